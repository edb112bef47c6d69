"""Messages made readable for the report (pure): pretty JSON lines that know their JSONPath,
so the lines of differing paths can be highlighted, cut to a window around what changed.

Nothing here escapes HTML: the templates autoescape every value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from shadowdiff.exchange import Response
from shadowdiff.http1 import DecodeError, HttpParseError

MAX_LINES = 200
CONTEXT = 3
HEAD_LINES = 12
MAX_TEXT = 8192
MAX_LINE = 500  # characters of one displayed line (a long JSON string is one line)
_KEYED = re.compile(r"\[([A-Za-z_][\w-]*)=([^\]]*)\]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_encode = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Line:
    """One displayed line; `marked` when it shows a differing path (or a header/status)."""

    text: str
    marked: bool = False
    gap: bool = False  # stands for lines left out


@dataclass(frozen=True, slots=True)
class ShownMessage:
    """A response as the report shows it: head lines, then body lines; `note` says how the
    body was rendered (JSON, text, binary, truncated)."""

    head: list[Line]
    body: list[Line]
    note: str


def json_lines(value: Any, keys: frozenset[str] = frozenset()) -> list[tuple[frozenset[str], str]]:
    """Pretty-printed JSON (2-space indent), each line with the JSONPath(s) it shows.

    An element of an array of objects also answers to `[key=value]` for each field named in
    `keys`, so the paths of arrays aligned by `array_keys` find their lines. Raises
    RecursionError for JSON nested deeper than the interpreter's recursion limit.
    """
    found: list[tuple[frozenset[str], str]] = []
    _walk(value, ("$",), "", 0, True, keys, found)
    return found


def _walk(
    value: Any,
    paths: tuple[str, ...],
    prefix: str,
    depth: int,
    last: bool,
    keys: frozenset[str],
    found: list[tuple[frozenset[str], str]],
) -> None:
    # Appends to one list (no generator chain): a 200 KB body is thousands of lines.
    pad, comma, here = "  " * depth, "" if last else ",", frozenset(paths)
    if isinstance(value, dict) and value:
        found.append((here, f"{pad}{prefix}{{"))
        end = len(value) - 1
        for i, (key, item) in enumerate(value.items()):
            step, name = _key_step(str(key)), f"{_encode(key)}: "
            _walk(item, tuple(p + step for p in paths), name, depth + 1, i == end, keys, found)
        found.append((here, f"{pad}}}{comma}"))
    elif isinstance(value, list) and value:
        found.append((here, f"{pad}{prefix}["))
        end = len(value) - 1
        for i, item in enumerate(value):
            child = tuple(p + step for p in paths for step in _index_steps(i, item, keys))
            _walk(item, child, "", depth + 1, i == end, keys, found)
        found.append((here, f"{pad}]{comma}"))
    else:
        found.append((here, f"{pad}{prefix}{_encode(value)}{comma}"))


def _key_step(key: str) -> str:
    return f".{key}" if _IDENTIFIER.fullmatch(key) else "[" + repr(key) + "]"


def _index_steps(index: int, item: Any, keys: frozenset[str]) -> list[str]:
    steps = [f"[{index}]"]
    if keys and isinstance(item, dict):
        for key in keys & item.keys():
            value = item[key]
            steps.append(f"[{key}={value if isinstance(value, str) else _encode(value)}]")
    return steps


def is_marked(paths: frozenset[str], differing: frozenset[str]) -> bool:
    """A line is marked when it shows a differing path or lies inside one.

    Looks up the line's path and its ancestors (cut before each `.` or `[`) in `differing`,
    so an exchange with thousands of differences costs no more per line than one with one.
    """
    return bool(differing) and any(
        p in differing or any(p[:i] in differing for i, c in enumerate(p) if c in ".[")
        for p in paths
    )


def excerpt(lines: list[Line], limit: int = MAX_LINES) -> list[Line]:
    """The first lines plus a window around each marked line; gaps stand for the rest."""
    if len(lines) <= limit:
        return lines
    keep = set(range(min(HEAD_LINES, len(lines))))
    for i, line in enumerate(lines):
        if line.marked:
            keep.update(range(max(0, i - CONTEXT), min(len(lines), i + CONTEXT + 1)))
    shown: list[Line] = []
    for i in sorted(keep)[:limit]:
        if shown and not shown[-1].gap and i - 1 not in keep:
            shown.append(Line("…", gap=True))
        shown.append(lines[i])
    if sorted(keep)[-1] < len(lines) - 1 or len(keep) > limit:
        shown.append(Line("…", gap=True))
    return shown


def show_response(raw: bytes | None, differing: frozenset[str]) -> ShownMessage:
    """A stored response (raw HTTP bytes) for display, with differing paths marked.

    `differing` holds JSONPaths (`$.a[0].b`), `status`, and `headers.<lower-case name>`.
    """
    if raw is None:
        return ShownMessage([], [], "no response")
    try:
        response = Response.parse(raw)
    except HttpParseError as exc:
        return ShownMessage([], _text_lines(raw, False)[0], f"unreadable response: {exc}")
    status = f"HTTP/{response.version} {response.status} {response.reason}".rstrip()
    head = [Line(_clip(status), "status" in differing)] + [
        Line(_clip(f"{name}: {value}"), f"headers.{name.lower()}" in differing)
        for name, value in response.headers
    ]
    body, note = show_body(response, differing)
    return ShownMessage(head, body, note)


def show_body(response: Response, differing: frozenset[str]) -> tuple[list[Line], str]:
    try:
        content = response.content
    except DecodeError as exc:
        return _text_lines(response.body, "body" in differing)[0], f"cannot decode: {exc}"
    if not content:
        return [], "empty body"
    if response.is_json:
        try:
            pairs = json_lines(json.loads(content), frozenset(keyed_names(differing)))
        except (ValueError, RecursionError):  # not JSON after all, or nested too deep to show
            return _text_lines(content, "body" in differing)
        lines = [Line(_clip(text), is_marked(paths, differing)) for paths, text in pairs]
        shown = excerpt(lines)
        note = f"JSON, {len(content):,} bytes" + (", excerpt" if len(shown) < len(lines) else "")
        return shown, note
    return _text_lines(content, "body" in differing)


def _text_lines(content: bytes, marked: bool) -> tuple[list[Line], str]:
    if _is_binary(content):
        preview = content[:256].hex(" ", -2)  # grouped from the first byte
        return [Line(preview, marked)], f"binary, {len(content):,} bytes (first 256 in hex)"
    text = _text(content)
    lines = [Line(t, marked) for t in text.splitlines()]
    cut = len(content) > MAX_TEXT
    note = f"text, {len(content):,} bytes" + (f" (first {MAX_TEXT:,} shown)" if cut else "")
    return excerpt(lines), note


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + f"… ({len(text):,} characters)"


def _text(data: bytes) -> str:
    return data[:MAX_TEXT].decode("utf-8", errors="replace")


def _is_binary(data: bytes) -> bool:
    sample = data[:1024]
    if b"\x00" in sample:
        return True
    return sample.decode("utf-8", errors="replace").count("\ufffd") > len(sample) // 20


def show_request(raw: bytes) -> tuple[list[str], str]:
    """The request head lines and a text preview of its body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [_clip(line) for line in head.decode("latin-1").split("\r\n")]
    if not body:
        return lines, ""
    if _is_binary(body):
        return lines, f"<binary body, {len(body):,} bytes>"
    return lines, _text(body) + ("…" if len(body) > MAX_TEXT else "")


def keyed_names(paths: frozenset[str]) -> set[str]:
    """Field names used by `[name=value]` steps in paths."""
    return {m.group(1) for p in paths for m in _KEYED.finditer(p)}
