"""GoReplay's HTTP filters and rewrites (`--http-*`), pure: parsed once from the flags as typed,
then applied to each request, which comes back edited, the same, or `Dropped` with a reason.

Applied in GoReplay's order: --http-allow-method, --http-set-header, --http-set-param,
--http-allow-url, --http-disallow-url, --http-allow-header, --http-disallow-header,
--http-basic-auth-filter, --http-header-limiter, --http-param-limiter, --http-rewrite-url,
--http-rewrite-header. So a filter sees what the set flags wrote, and the URL filters see the
target before --http-rewrite-url changes it.

Regular expressions are Python's, compiled with re.ASCII so that `\\d`, `\\w`, `\\s` and `\\b` are
ASCII-only as in Go. Replacements use Go's syntax (`$1`, `${1}`, `$name`, `$$`). Values typed
on the command line go on the wire as their UTF-8 bytes, as GoReplay writes them. Everything
not edited stays byte for byte as recorded; none of these edits touches the body.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

from shadowdiff.errors import InputError
from shadowdiff.exchange import Request
from shadowdiff.traffic.filters import drop_reason, method_reason
from shadowdiff.traffic.rewrites import (
    EditError,
    python_template,
    rewrite_headers,
    rewrite_url,
    set_headers,
    set_params,
)

_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # a method or a header name
_HEADER_TEXT = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")  # no control characters but HTAB
_URL_TEXT = re.compile(r"[\x21-\x7e]*")  # what a request target may hold
_LIMIT = re.compile(r"(?P<percent>[0-9]+)%|(?P<part>[0-9]+)/(?P<whole>[0-9]+)")


@dataclass(frozen=True, slots=True)
class Shaping:
    """All GoReplay HTTP filters and rewrites, parsed and compiled (see `parse_shaping`).

    `flags` keeps the (flag, value) pairs as typed, for the run's settings (`describe`)."""

    allow_methods: tuple[str, ...] = ()
    allow_urls: tuple[re.Pattern[str], ...] = ()
    disallow_urls: tuple[re.Pattern[str], ...] = ()
    allow_headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    disallow_headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    basic_auth_filters: tuple[re.Pattern[str], ...] = ()
    header_limiter: tuple[str, int] | None = None  # (header name, percent kept)
    param_limiter: tuple[str, int] | None = None  # (query parameter name, percent kept)
    rewrite_urls: tuple[tuple[re.Pattern[str], str], ...] = ()  # (pattern, Python template)
    rewrite_headers: tuple[tuple[str, re.Pattern[str], str], ...] = ()
    set_headers: tuple[tuple[str, str], ...] = ()
    set_params: tuple[tuple[str, str], ...] = ()
    flags: tuple[tuple[str, str], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, each.name) for each in fields(self) if each.name != "flags")

    @property
    def sets_host(self) -> bool:
        """--http-set-header Host: ... is there: GoReplay then sends that Host, so the caller
        must not replace it with the target's."""
        return any(name.lower() == "host" for name, _ in self.set_headers)

    def describe(self) -> dict[str, list[str]]:
        """The flags as typed, e.g. {"--http-allow-url": ["/api"]}."""
        described: dict[str, list[str]] = {}
        for flag, value in self.flags:
            described.setdefault(flag, []).append(value)
        return described


@dataclass(frozen=True, slots=True)
class Dropped:
    """Why a request was filtered out: short and the same for every request a rule drops, e.g.
    "--http-allow-url: no pattern matched", "--http-header-limiter X-API-KEY: 10%"."""

    reason: str


def shape_request(request: Request, shaping: Shaping) -> Request | Dropped:
    """The request filtered and rewritten: a new Request when something changed, the same
    object when nothing did, or Dropped."""
    if (reason := method_reason(request, shaping)) is not None:
        return Dropped(reason)
    try:
        request = set_headers(request, shaping.set_headers)
        request = set_params(request, shaping.set_params)
        if (reason := drop_reason(request, shaping)) is not None:
            return Dropped(reason)
        request = rewrite_url(request, shaping.rewrite_urls)
        return rewrite_headers(request, shaping.rewrite_headers)
    except EditError as problem:
        return Dropped(str(problem))


def parse_shaping(
    *,
    allow_method: Sequence[str] = (),
    allow_url: Sequence[str] = (),
    disallow_url: Sequence[str] = (),
    allow_header: Sequence[str] = (),
    disallow_header: Sequence[str] = (),
    basic_auth_filter: Sequence[str] = (),
    header_limiter: str | None = None,
    param_limiter: str | None = None,
    rewrite_url: Sequence[str] = (),
    rewrite_header: Sequence[str] = (),
    set_header: Sequence[str] = (),
    set_param: Sequence[str] = (),
) -> Shaping:
    """A Shaping from the flag values as the user typed them; raises InputError naming the
    flag and the value for the first bad one."""
    typed: dict[str, Sequence[str]] = {
        "--http-allow-method": allow_method,
        "--http-allow-url": allow_url,
        "--http-disallow-url": disallow_url,
        "--http-allow-header": allow_header,
        "--http-disallow-header": disallow_header,
        "--http-basic-auth-filter": basic_auth_filter,
        "--http-header-limiter": () if header_limiter is None else (header_limiter,),
        "--http-param-limiter": () if param_limiter is None else (param_limiter,),
        "--http-rewrite-url": rewrite_url,
        "--http-rewrite-header": rewrite_header,
        "--http-set-header": set_header,
        "--http-set-param": set_param,
    }
    return Shaping(
        allow_methods=tuple(_method(value) for value in allow_method),
        allow_urls=tuple(_regex("--http-allow-url", value, value) for value in allow_url),
        disallow_urls=tuple(_regex("--http-disallow-url", value, value) for value in disallow_url),
        allow_headers=tuple(_header_regex("--http-allow-header", v) for v in allow_header),
        disallow_headers=tuple(_header_regex("--http-disallow-header", v) for v in disallow_header),
        basic_auth_filters=tuple(
            _regex("--http-basic-auth-filter", value, value) for value in basic_auth_filter
        ),
        header_limiter=_limiter("--http-header-limiter", "Name", header_limiter),
        param_limiter=_limiter("--http-param-limiter", "name", param_limiter),
        rewrite_urls=tuple(_url_rewrite(value) for value in rewrite_url),
        rewrite_headers=tuple(_header_rewrite(value) for value in rewrite_header),
        set_headers=tuple(_set_header(value) for value in set_header),
        set_params=tuple(_set_param(value) for value in set_param),
        flags=tuple((flag, value) for flag, values in typed.items() for value in values),
    )


def _bad(flag: str, value: str, problem: str) -> InputError:
    return InputError(f"{flag} '{value}': {problem}")


def _method(value: str) -> str:
    # GoReplay compares the method byte for byte. Methods are upper case in practice, so a
    # flag typed `get` is read as GET; the request's method must then be exactly `GET`.
    method = value.strip().upper()
    if not _TOKEN.fullmatch(method):
        raise _bad("--http-allow-method", value, "expected a method like GET")
    return method


def _regex(flag: str, value: str, regex: str, hint: str = "") -> re.Pattern[str]:
    try:
        return re.compile(regex, re.ASCII)
    except re.error as error:
        raise _bad(flag, value, f"bad regular expression: {error}{hint}") from None


def _name(flag: str, value: str, name: str, problem: str) -> str:
    name = name.strip()
    if not _TOKEN.fullmatch(name):
        raise _bad(flag, value, problem)
    return name


def _header_regex(flag: str, value: str) -> tuple[str, re.Pattern[str]]:
    # `Name: regex` or `Name:regex`: split at the first colon, spaces around the regex dropped.
    name, colon, regex = value.partition(":")
    if not colon:
        raise _bad(flag, value, "expected 'Name: regex'")
    name = _name(flag, value, name, "expected 'Name: regex'")
    return name, _regex(flag, value, regex.strip())


def _limiter(flag: str, placeholder: str, value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    expected = f"expected '{placeholder}: N%'"
    name, colon, amount = value.partition(":")
    percent = _percent(amount.strip()) if colon else None
    if percent is None:
        raise _bad(flag, value, expected)
    if percent > 100:
        raise _bad(flag, value, f"{expected} with N at most 100")
    return _name(flag, value, name, expected), percent


def _percent(amount: str) -> int | None:
    limit = _LIMIT.fullmatch(amount)
    if limit is None:
        return None
    if limit["percent"] is not None:
        return int(limit["percent"])
    part, whole = int(limit["part"]), int(limit["whole"])
    # GoReplay's older `N/D` form, computed as GoReplay does: a float, truncated.
    return int(part / whole * 100) if whole else None


def _url_rewrite(value: str) -> tuple[re.Pattern[str], str]:
    # GoReplay splits at the FIRST colon: the pattern cannot hold one, the replacement can.
    regex, colon, replacement = value.partition(":")
    if not colon:
        raise _bad("--http-rewrite-url", value, "expected 'regex:replacement'")
    hint = " (the pattern ends at the first ':')" if ":" in replacement else ""
    pattern = _regex("--http-rewrite-url", value, regex, hint)
    if not _URL_TEXT.fullmatch(replacement):
        problem = "the replacement must be visible ASCII (percent-encode other characters)"
        raise _bad("--http-rewrite-url", value, problem)
    return pattern, python_template(replacement, pattern)


def _header_rewrite(value: str) -> tuple[str, re.Pattern[str], str]:
    # `Name: regex,replacement`: the first colon ends the name, the first comma the regex.
    name, colon, rest = value.partition(":")
    regex, comma, replacement = rest.strip().partition(",")
    if not colon or not comma:
        raise _bad("--http-rewrite-header", value, "expected 'Name: regex,replacement'")
    name = _name("--http-rewrite-header", value, name, "expected 'Name: regex,replacement'")
    pattern = _regex("--http-rewrite-header", value, regex)
    template = python_template(replacement, pattern)
    return name, pattern, _header_text("--http-rewrite-header", value, template)


def _set_header(value: str) -> tuple[str, str]:
    name, colon, header_value = value.partition(":")
    if not colon:
        raise _bad("--http-set-header", value, "expected 'Name: value'")
    name = _name("--http-set-header", value, name, "expected 'Name: value'")
    return name, _header_text("--http-set-header", value, header_value.strip())


def _header_text(flag: str, value: str, text: str) -> str:
    """Text typed for a header value, as the Latin-1 view of its UTF-8 bytes."""
    wire = text.encode("utf-8").decode("latin-1")
    if not _HEADER_TEXT.fullmatch(wire):
        raise _bad(flag, value, "a header value cannot hold control characters")
    return wire


def _set_param(value: str) -> tuple[str, str]:
    name, equals, param = (part.strip() for part in value.partition("="))
    if not equals or not name:
        raise _bad("--http-set-param", value, "expected 'name=value'")
    if not _URL_TEXT.fullmatch(name + param):
        problem = "expected visible ASCII (percent-encode other characters)"
        raise _bad("--http-set-param", value, problem)
    return name, param
