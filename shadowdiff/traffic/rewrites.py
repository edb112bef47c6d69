"""GoReplay's HTTP rewrites, pure: --http-set-header, --http-set-param, --http-rewrite-url and
--http-rewrite-header on a recorded request, with Go's regular-expression replacement.

A head is edited as Latin-1 text, which maps each byte to one character and back, so every
byte outside the edit stays as recorded: header order, name case, spacing, CRLF or LF. An
edited head is parsed again into a new Request; an unchanged one gives the same Request back.
"""

from __future__ import annotations

import re

from shadowdiff.exchange import Request
from shadowdiff.http1 import HttpParseError

# A field line: name, colon, the spaces after it, the value, trailing spaces and CR.
_FIELD_LINE = re.compile(r"(?P<name>[^\s:]+):(?P<gap>[ \t]*)(?P<value>.*?)(?P<tail>[ \t]*\r?)")
# A reference in a Go replacement template: `$$`, `${name}` or `$name` (the longest name).
_GO_REFERENCE = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>\w+)\}|(?P<bare>\w+))")


class EditError(Exception):
    """An edit made the request unparseable (e.g. a rewrite emptied its target): the message
    names the flag."""


def _edited(request: Request, head: bytes, flag: str) -> Request:
    if head == request.head:
        return request
    try:
        return Request.parse(head + request.body)
    except HttpParseError as error:
        raise EditError(f"{flag}: the edited request is not valid HTTP ({error})") from None


def set_headers(request: Request, headers: tuple[tuple[str, str], ...]) -> Request:
    """--http-set-header: each (name, value) overwrites the first such field, or is added."""
    head = request.head
    for name, value in headers:
        head = with_header(head, name, value)
    return _edited(request, head, "--http-set-header")


def set_params(request: Request, params: tuple[tuple[str, str], ...]) -> Request:
    """--http-set-param: each (name, value) overwrites the first such parameter, or is added."""
    target = request.target
    for name, value in params:
        target = with_param(target, name, value)
    return _retargeted(request, target, "--http-set-param")


def _retargeted(request: Request, target: str, flag: str) -> Request:
    return _edited(request, with_target(request.head, target), flag)


def rewrite_url(request: Request, rules: tuple[tuple[re.Pattern[str], str], ...]) -> Request:
    """--http-rewrite-url: (pattern, Python template) rules on the request target."""
    for pattern, template in rules:
        if pattern.search(request.target):  # only the first rule that matches applies
            target = replace_all(pattern, template, request.target)
            return _retargeted(request, target, "--http-rewrite-url")
    return request


def rewrite_headers(
    request: Request, rules: tuple[tuple[str, re.Pattern[str], str], ...]
) -> Request:
    """--http-rewrite-header: (name, pattern, Python template) rules, each on the value the
    rules before it left."""
    for name, pattern, template in rules:
        value = request.header(name)
        if not value:
            break  # GoReplay's quirk, kept: a rule whose header is absent ends the rewriting
        if pattern.search(value):
            new_value = replace_all(pattern, template, value)
            request = _edited(
                request, with_header(request.head, name, new_value), "--http-rewrite-header"
            )
    return request


def with_header(head: bytes, name: str, value: str) -> bytes:
    """The head with the value of the first `name` field (any case) replaced in place, or, when
    there is none, with `name: value` added as the last field line."""
    lines = head.decode("latin-1").split("\n")
    # lines: request line, field lines, the blank line, "" (after the blank line's LF)
    for i in range(1, len(lines) - 2):
        field = _FIELD_LINE.fullmatch(lines[i])
        if field is not None and field["name"].lower() == name.lower():
            lines[i] = f"{field['name']}:{field['gap']}{value}{field['tail']}"
            _drop_continuations(lines, i + 1)
            break
    else:
        ending = "\r" if lines[-3].endswith("\r") else ""
        lines.insert(len(lines) - 2, f"{name}: {value}{ending}")
    return "\n".join(lines).encode("latin-1")


def _drop_continuations(lines: list[str], start: int) -> None:
    """Remove the obsolete folded lines (starting with a space or tab) of a replaced value."""
    while start < len(lines) - 2 and lines[start][:1] in (" ", "\t"):
        del lines[start]


def with_target(head: bytes, target: str) -> bytes:
    """The head with its request target replaced (method, version and the rest as recorded)."""
    request_line, newline, rest = head.partition(b"\n")
    method, _, after_method = request_line.partition(b" ")
    _, _, version = after_method.rpartition(b" ")
    return b" ".join((method, target.encode("latin-1"), version)) + newline + rest


def find_param(target: str, name: str) -> tuple[int, int] | None:
    """Where the value of the first `name=...` in a request target's query is, or None."""
    question = target.find("?")
    if question < 0:
        return None
    start = question + 1
    for field in target[start:].split("&"):
        if field.startswith(name + "="):
            return start + len(name) + 1, start + len(field)
        start += len(field) + 1
    return None


def param_value(target: str, name: str) -> str | None:
    """The raw (still percent-encoded) value of a query parameter, or None when absent."""
    span = find_param(target, name)
    return None if span is None else target[span[0] : span[1]]


def with_param(target: str, name: str, value: str) -> str:
    """The target with the first `name` parameter's value replaced, or `name=value` appended
    (after `?`, or `&` when there is a query already); other bytes stay as they were."""
    span = find_param(target, name)
    if span is not None:
        return target[: span[0]] + value + target[span[1] :]
    if "?" not in target:
        return f"{target}?{name}={value}"
    separator = "" if target.endswith(("?", "&")) else "&"
    return f"{target}{separator}{name}={value}"


def python_template(go_template: str, pattern: re.Pattern[str]) -> str:
    """A Go replacement template (`$1`, `${1}`, `$name`, `${name}`, `$$`) as a template for
    Python's `Match.expand` (`\\g<1>`), with Go's rules: a name is as long as it can be (`$1x`
    is the group named `1x`), a group the pattern does not have expands to nothing, and a `$`
    that starts no reference is a plain `$`."""
    parts: list[str] = []
    copied = 0
    for reference in _GO_REFERENCE.finditer(go_template):
        parts.append(go_template[copied : reference.start()].replace("\\", "\\\\"))
        name = reference["braced"] or reference["bare"]
        parts.append("$" if name is None else _group_reference(name, pattern))
        copied = reference.end()
    parts.append(go_template[copied:].replace("\\", "\\\\"))
    return "".join(parts)


def _group_reference(name: str, pattern: re.Pattern[str]) -> str:
    if name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0")):
        return f"\\g<{name}>" if int(name) <= pattern.groups else ""
    return f"\\g<{name}>" if name in pattern.groupindex else ""


def replace_all(pattern: re.Pattern[str], template: str, text: str) -> str:
    """Every match replaced by the expanded template, like Go's `Regexp.ReplaceAll`: an empty
    match right after the previous match is not replaced (Python's `re.sub` replaces it)."""
    parts: list[str] = []
    copied = search_from = 0
    last_end = -1
    while search_from <= len(text):
        match = pattern.search(text, search_from)
        if match is None:
            break
        parts.append(text[copied : match.start()])
        if match.end() > last_end:
            parts.append(match.expand(template))
        copied = last_end = match.end()
        search_from = match.end() if match.end() > search_from else search_from + 1
    parts.append(text[copied:])
    return "".join(parts)
