"""Redaction before storage: secrets become keyed hashes, `redacted:<16 hex of HMAC-SHA256>`.

Equal values give equal tokens, so a baseline and a candidate that agree still agree. A JSON
body with a redacted value is stored decoded and re-serialised compactly: its bytes differ
from the wire (its encodings go, Content-Length is set). Anything that cannot be decoded stays
as it was. Idempotent: a value that already is a token stays.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.jsonpath import DatumInContext, Fields

from shadowdiff.compare.model import Comparison, Difference
from shadowdiff.compare.normalize import KEYED, canonical, compiled
from shadowdiff.compare.verdict import _snippet
from shadowdiff.errors import InputError
from shadowdiff.exchange import Request, Response, get_header
from shadowdiff.store.writer import ExchangeResult
from shadowdiff.traffic.rewrites import with_header

DEFAULT_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
PREFIX = "redacted:"
MIN_SCRUB = 4  # shorter values are not searched for in free text
_TOKEN = re.compile(r"redacted:[0-9a-f]{16}")
_FIELD_LINE = re.compile(r"(?P<name>[^\s:]+):(?P<gap>[ \t]*)(?P<value>.*?)(?P<tail>[ \t]*\r?)")
_COOKIE = re.compile(r"(?P<lead>(?:^|;)[ \t]*)(?P<name>[^=;]*=)?(?P<value>[^;]*?)(?=[ \t]*(?:;|$))")
_DESCENDANT = re.compile(r"\$\.\.([A-Za-z_][A-Za-z0-9_]*)")  # `$..password`: walked here, fast
_POSITIONAL = re.compile(r"\[\s*(?:-?\d|:)")  # a JSONPath step picking array elements by index
_KEYED_STEP = r"\[(?P<key>[^\]=]*)=(?P<text>.*?)\](?=[.\[]|$)"  # array_keys' `[id=7]`
_STEP = re.compile(  # a step of a difference path, as compare.diff.format_path writes them
    r"\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\[(?P<literal>\d+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]|" + _KEYED_STEP
)

Edit = Callable[[str, str], str | None]  # (header name, value) -> new value, or None: drop it
Steps = list[str | int]
Message = TypeVar("Message", Request, Response)
Snippets = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class Redaction:
    """The HMAC key and what to redact; `headers` (any case) adds to DEFAULT_HEADERS."""

    key: bytes = field(repr=False)
    headers: frozenset[str] = DEFAULT_HEADERS
    json_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise InputError("redaction: the key is empty")
        object.__setattr__(self, "headers", DEFAULT_HEADERS | {n.lower() for n in self.headers})
        for path in self.json_paths:
            try:
                compiled(path)
            except JSONPathError as exc:
                raise InputError(f"redaction: bad JSONPath {path!r}: {exc}") from None

    def token(self, value: bytes | str) -> str:
        data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        return PREFIX + hmac.new(self.key, data, hashlib.sha256).hexdigest()[:16]


def redact_request(request: Request, redaction: Redaction) -> Request:
    return _Pass(redaction).message(request)


def redact_response(response: Response, redaction: Redaction) -> Response:
    return _Pass(redaction).message(response)


def redact_result(result: ExchangeResult, redaction: Redaction) -> ExchangeResult:
    """Messages, differences (tokens), snippets, errors and messages (scrubbed) redacted."""
    if not redaction.json_paths and not _has_secret_headers(result, redaction.headers):
        return result  # most exchanges: nothing to hide, nothing to copy (a replay's hot path)
    run, exchange = _Pass(redaction), result.exchange
    request = run.message(exchange.request)
    recorded = run.optional(exchange.baseline)
    baseline = recorded if result.baseline is exchange.baseline else run.optional(result.baseline)
    candidate = run.optional(result.candidate)
    snippets = (
        _changed_snippet(result.baseline or exchange.baseline, baseline or recorded),
        _changed_snippet(result.candidate, candidate),
    )
    exchange = replace(exchange, request=request, baseline=recorded)
    comparison = run.comparison(result.comparison, snippets)
    return replace(
        result, exchange=exchange, comparison=comparison, baseline=baseline, candidate=candidate
    )


def _has_secret_headers(result: ExchangeResult, names: frozenset[str]) -> bool:
    messages = (
        result.exchange.request,
        result.exchange.baseline,
        result.baseline,
        result.candidate,
    )
    return any(
        name.lower() in names
        for message in messages
        if message is not None
        for name, _ in message.headers
    )


class _Pass:
    """One redaction, remembering each value it redacted (to scrub free text with)."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self.found: dict[str, str] = {}  # redacted value as text -> its token

    def hide(self, value: Any) -> Any:
        """A value as its token (a non-string: of its canonical JSON); null, "" and tokens stay."""
        if value is None or value == "" or (isinstance(value, str) and _TOKEN.fullmatch(value)):
            return value
        text = value if isinstance(value, str) else canonical(value)
        for leaf in _leaves(value):  # each once: equal values recur in baseline and candidate
            self.found[leaf] = self.found.get(leaf) or self.redaction.token(leaf)
        return self.found.get(text) or self.redaction.token(text)

    def optional(self, response: Response | None) -> Response | None:
        return None if response is None else self.message(response)

    def message(self, message: Message) -> Message:
        content = self.content(message) if self.redaction.json_paths else None
        length = None if content is None else len(content)
        edit = partial(self.edit, length)
        head = _edit_head(message.head, edit)
        headers = tuple((n, new) for n, v in message.headers if (new := edit(n, v)) is not None)
        if length is not None and get_header(headers, "Content-Length") is None:
            head = with_header(head, "Content-Length", str(length))
            headers += (("Content-Length", str(length)),)
        body = message.body if content is None else content
        return replace(message, head=head, headers=headers, body=body)

    def edit(self, length: int | None, name: str, value: str) -> str | None:
        """A header field redacted; with a body re-serialised to `length` bytes, framing too."""
        lowered = name.lower()
        if length is not None and lowered in ("content-encoding", "transfer-encoding"):
            return None
        if length is not None and lowered == "content-length":
            return str(length)
        return self.header(lowered, value) if lowered in self.redaction.headers else value

    def header(self, name: str, value: Any) -> Any:
        """A header value (compared values: one a line) of a lower-case name, redacted."""
        if not isinstance(value, str) or "\n" in value:
            lines = value.split("\n") if isinstance(value, str) else None
            return value if lines is None else "\n".join(self.header(name, v) for v in lines)
        if name in ("cookie", "set-cookie"):  # Set-Cookie: the first pair, not the attributes
            return _COOKIE.sub(self.cookie, value, count=1 if name == "set-cookie" else 0)
        return self.hide(value)

    def cookie(self, pair: re.Match[str]) -> str:
        return f"{pair['lead']}{pair['name'] or ''}{self.hide(pair['value'])}"

    def content(self, message: Request | Response) -> bytes | None:
        """The body, redacted and re-serialised; None when nothing in it was redacted."""
        try:
            data, count = self.document(json.loads(message.content))
            return json.dumps(data, separators=(",", ":")).encode() if count else None
        except (ValueError, RecursionError):  # undecodable, not JSON, or nested too deeply
            return None

    def document(self, data: Any) -> tuple[Any, int]:
        """`data` (edited in place) with its matched values as tokens; how many changed."""
        root, count = [data], 0  # the document in a box: the root has a place like the rest
        for path in self.redaction.json_paths:
            for holder, key in _places(root, path):
                if (new := self.hide(holder[key])) is not holder[key]:
                    holder[key], count = new, count + 1
        return root[0], count

    def comparison(self, comparison: Comparison, snippets: Snippets) -> Comparison:
        differences = tuple(self.difference(d, snippets) for d in comparison.differences)
        assertions = tuple(replace(a, message=self.scrub(a.message)) for a in comparison.assertions)
        error = None if comparison.error is None else self.scrub(comparison.error)
        return replace(comparison, differences=differences, assertions=assertions, error=error)

    def difference(self, diff: Difference, snippets: Snippets) -> Difference:
        old, new = diff.baseline, diff.candidate
        name = diff.path.removeprefix("headers.")
        if diff.path == "body":
            return replace(diff, baseline=snippets[0] or old, candidate=snippets[1] or new)
        if name != diff.path and name in self.redaction.headers:
            return replace(diff, baseline=self.header(name, old), candidate=self.header(name, new))
        if not diff.path.startswith("$") or not self.redaction.json_paths:
            return diff
        steps = _steps(diff.path, any(map(_POSITIONAL.search, self.redaction.json_paths)))
        path = re.sub(_KEYED_STEP, self.keyed, diff.path)
        return replace(diff, path=path, baseline=self.at(steps, old), candidate=self.at(steps, new))

    def at(self, steps: Steps | None, value: Any) -> Any:
        """A difference's value, redacted as it would be at its place in a body."""
        if value is None or steps is None:  # a path not understood: all of it, to be safe
            return self.hide(value)
        doc = copy.deepcopy(value)
        for step in reversed(steps):  # a document holding the value at its place, only it
            doc = [None] * step + [doc] if isinstance(step, int) else {step: doc}
        doc, count = self.document(doc)
        for step in steps if count else ():  # back to the place, unless a value around it went
            held = doc if isinstance(doc, dict) else range(len(doc) if isinstance(doc, list) else 0)
            if step not in held:
                return self.hide(value)
            doc = doc[step]
        return doc if count else value

    def keyed(self, step: re.Match[str]) -> str:
        """A `[key=value]` path step (array_keys) with a redacted value as its token."""
        return f"[{step['key']}={self.found.get(step['text'], step['text'])}]"

    def scrub(self, text: str) -> str:
        """Each redacted value (as is, JSON- or repr-escaped, cut short at the end) as its token."""
        found = [(s, t) for s, t in self.found.items() if len(s) >= MIN_SCRUB]
        forms = {f: t for s, t in found for f in (s, repr(s)[1:-1], json.dumps(s)[1:-1])}
        if not text or not forms:
            return text
        pattern = "|".join(map(re.escape, sorted(forms, key=len, reverse=True)))
        text = re.sub(pattern, lambda m: forms[m[0]], text)
        ends = [
            (k, t)
            for f, t in forms.items()
            for k in range(MIN_SCRUB, len(f))
            if text.endswith(f[:k])
        ]
        return text[: -max(ends)[0]] + max(ends)[1] if ends else text


def _edit_head(head: bytes, edit: Edit) -> bytes:
    """Each field line (1xx heads too) edited as Latin-1 text, in place, folded lines joined."""
    lines = head.decode("latin-1").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):  # start lines never match _FIELD_LINE: a space comes before any colon
        field_line, end = _FIELD_LINE.fullmatch(lines[i]), i + 1
        while field_line is not None and end < len(lines) and lines[end][:1] in (" ", "\t"):
            end += 1
        kept.extend(lines[i:end] if field_line is None else _edited(field_line, lines[i:end], edit))
        i = end
    return "\n".join(kept).encode("latin-1")


def _edited(field_line: re.Match[str], lines: list[str], edit: Edit) -> list[str]:
    name, gap, tail = field_line["name"], field_line["gap"], field_line["tail"]
    value = " ".join([field_line["value"], *(line.strip(" \t\r") for line in lines[1:])])
    if (new := edit(name, value)) == value:
        return lines
    return [] if new is None else [f"{name}:{gap}{new}{tail}"]


def _places(root: list[Any], path: str) -> list[tuple[Any, Any]]:
    """(container, key) of each value the path matches in the boxed document `root`."""
    if (name := _DESCENDANT.fullmatch(path)) is not None:
        return list(_named(root[0], name[1]))
    return [_place(root, match) for match in compiled(path).find(root[0])]


def _place(root: list[Any], match: DatumInContext) -> tuple[Any, Any]:
    step = match.path
    keys = step.fields if isinstance(step, Fields) else getattr(step, "indices", ())
    if match.context is not None and len(keys) == 1:
        return match.context.value, keys[0]
    return root, 0  # the root (or a step of unknown shape: the whole document, to be safe)


def _named(data: Any, name: str) -> Iterator[tuple[Any, Any]]:
    """Every place of a key `name`, at any depth (what `$..name` finds, in its order)."""
    if isinstance(data, dict) and name in data:
        yield data, name
    for item in data.values() if isinstance(data, dict) else data if isinstance(data, list) else ():
        yield from _named(item, name)


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _leaves(item)
    elif isinstance(value, str) and value and not _TOKEN.fullmatch(value):
        yield value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield json.dumps(value)


def _changed_snippet(original: Response | None, redacted: Response | None) -> str | None:
    if original is None or redacted is None or redacted.body == original.body:
        return None
    return _snippet(redacted.content)


def _steps(path: str, positional: bool) -> Steps | None:
    """`$.a[2].b` -> a, 2, b (indexes 0 unless a JSONPath indexes); None when unreadable."""
    matches = list(_STEP.finditer(path, 1))
    if "".join(m[0] for m in matches) != path[1:]:
        return None
    steps: Steps = []
    for step in matches:
        if step["literal"] is not None:  # an index, or a quoted key
            literal = ast.literal_eval(step["literal"])
            steps.append(literal * positional if isinstance(literal, int) else str(literal))
        else:  # `[id=7]`: an element of an array keyed by array_keys
            steps.append(step["name"] or f"{KEYED}{step['key']}={step['text']}")
    return steps
