"""Endpoint templates learned from traffic: `/api/users/17` -> `GET /api/users/{id}`. Pure.

Two signals, shape first:

* **Shape**: a segment that looks like an identifier (`segment_kind`) becomes `{id}`, `{uuid}`,
  `{hex}`, `{date}`, `{token}` or `{email}`, from the first request on, whatever was seen
  before. A shape with a file extension keeps it: `17.json` -> `{id}.json`.
* **Cardinality**: when more than `max_literals` distinct word-like segments (no shape) are
  seen at one position under the same prefix, the position folds into one placeholder named
  after the segment before it, singularised (`/users/alice` -> `/users/{user}`), else
  `{param}`. A folded position never unfolds, and forgets the values it had stored.

Templates are stable once a position has folded, not before: the first `max_literals`
names at a position stay literal until the fold. A replay or a recompare should therefore
`observe` the whole recording before it names anything (two passes); live traffic (tee)
names as it learns, so its first requests at a not-yet-folded position keep literal names.

Positions are shared by all methods (`GET` and `DELETE /users/17` teach the same tree); the
method only prefixes the template. Memory is bounded: at most `max_literals` values per
position and `max_nodes` positions in all (past it, new positions are not learned).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:  # rules/model.py names unmatched endpoints with this module
    from shadowdiff.rules.model import RuleSet

_VERSION = re.compile(r"[vV]\d+(?:\.\d+)*")
_EMAIL = re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"(\d{4})(-?)(\d\d)\2(\d\d)(?:T[0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)?")
_INTEGER = re.compile(r"-?\d+")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_PREFIXED_ID = re.compile(r"[A-Za-z]{1,16}[-_]?\d{5,}")  # 4 digits: years, `iso8601`
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}={0,2}")
_EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,5}")
_PLACEHOLDER = re.compile(r"\{[^{}/]+\}")  # as rules.model reads `{x}` in a template
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_COMPACT_YEARS = range(1970, 2100)  # `20240102` is a date only in these years, else an id
_TOKEN_CLASS_CHANGES = 4


def segment_kind(segment: str) -> str | None:
    """The placeholder name for a segment shaped like an identifier, or None for a word.

    Percent-encoding is decoded first. Versions (`v1`, `v2.1`) are always words.
    """
    text = unquote(segment) if "%" in segment else segment
    if not text or text.isalpha() or _VERSION.fullmatch(text):
        return None
    if "@" in text:
        return "email" if _EMAIL.fullmatch(text) else None
    if _UUID.fullmatch(text):
        return "uuid"
    if _is_date(text):
        return "date"
    if _INTEGER.fullmatch(text) or _PREFIXED_ID.fullmatch(text):
        return "id"
    if _HEX.fullmatch(text) and _has_digit(text):
        return "hex"
    return "token" if _is_token(text) else None


def _is_date(text: str) -> bool:
    found = _DATE.fullmatch(text)
    if found is None:
        return False
    year, dashed, month, day = found.groups()
    if not dashed and int(year) not in _COMPACT_YEARS:
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)


def _is_token(text: str) -> bool:
    """Base64url-ish: 20+ characters where letters, cases and digits alternate often
    (`dQw4w9WgXcQ1aB2c3D4e`), unlike a slug (`my-first-post-2024`)."""
    if not _TOKEN.fullmatch(text) or not _has_digit(text) or not _has_alpha(text):
        return False
    classes = [_char_class(char) for char in text]
    changes = sum(1 for a, b in pairwise(classes) if a and b and a != b)
    return changes >= _TOKEN_CLASS_CHANGES


def _has_alpha(text: str) -> bool:
    return any(char.isalpha() for char in text)


def _char_class(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.isalpha():
        return "upper" if char.isupper() else "lower"
    return ""  # `-`, `_`, `=` separate, they do not alternate


def shape_of(segment: str) -> str | None:
    """The template text of a segment by its shape alone (`17` -> `{id}`, `17.json` ->
    `{id}.json`), the segment itself when it already holds a placeholder, else None."""
    if _PLACEHOLDER.search(segment):
        return segment
    kind = segment_kind(segment)
    if kind is not None:
        return "{" + kind + "}"
    stem, dot, extension = segment.rpartition(".")
    if dot and stem and _EXTENSION.fullmatch(extension):
        kind = segment_kind(stem)
        if kind is not None:
            return "{" + kind + "}." + extension
    return None


def placeholder_for(previous: str) -> str:
    """The placeholder of a folded position, after the literal segment before it, singularised
    naively: `users` -> `{user}`, `categories` -> `{category}`, `boxes` -> `{box}`; `{param}`
    when that segment is not a plural word (or there is none)."""
    word = previous.lower().replace("-", "_")
    if not _NAME.fullmatch(word):
        return "{param}"
    if word.endswith("ies") and len(word) > 3:
        return "{" + word[:-3] + "y}"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return "{" + word[:-2] + "}"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 1:
        return "{" + word[:-1] + "}"
    return "{param}"


def split_path(path: str) -> list[str] | None:
    """A path's segments without query string or trailing slashes (`/a/` == `/a`; `/` has
    none); empty inner segments are kept (`/a//b`). None for a target without a leading `/`."""
    path = path.partition("?")[0]
    if not path.startswith("/"):
        return None
    path = path.rstrip("/")
    return path[1:].split("/") if path else []


@dataclass(slots=True)
class _Node:
    """One position: literal values seen here, and the subtrees under placeholders."""

    literals: dict[str, _Node] = field(default_factory=dict)
    placeholders: dict[str, _Node] = field(default_factory=dict)
    folded: str | None = None  # the placeholder every word here becomes, once folded

    def size(self) -> int:
        """Nodes in this subtree (iterative: a path may be thousands of segments deep)."""
        count, pending = 0, [self]
        while pending:
            node = pending.pop()
            count += 1
            pending.extend((*node.literals.values(), *node.placeholders.values()))
        return count


class EndpointTemplater:
    """Learns endpoint templates from request paths (`observe`), names requests (`template`).

    Deterministic: the same observations in the same order give the same templates.
    """

    def __init__(self, max_literals: int = 20, max_nodes: int = 50_000) -> None:
        if max_literals < 1 or max_nodes < 1:
            raise ValueError("max_literals and max_nodes must be at least 1")
        self.max_literals = max_literals
        self.max_nodes = max_nodes
        self._root = _Node()
        self._nodes = 1

    @property
    def node_count(self) -> int:
        """Positions stored (one per distinct literal value kept, placeholder and root)."""
        return self._nodes

    def observe(self, method: str, path: str) -> None:
        """Learn from one request (`method` is not needed: positions are shared)."""
        del method
        node: _Node | None = self._root
        previous = ""
        for segment in split_path(path) or ():
            if node is None:
                return
            name = self._name(node, segment)
            node = self._learn(node, segment, name, previous)
            previous = segment if name is None else ""

    def template(self, method: str, path: str) -> str:
        """`METHOD /templated/path` for a request, from what was observed so far."""
        segments = split_path(path)
        if segments is None:  # `OPTIONS *`, or a target that is no path
            return f"{method.upper()} {path.partition('?')[0]}"
        node: _Node | None = self._root
        parts = []
        for segment in segments:
            name = self._name(node, segment)
            parts.append(segment if name is None else name)
            node = _child(node, segment, name)
        return f"{method.upper()} /" + "/".join(parts)

    @staticmethod
    def _name(node: _Node | None, segment: str) -> str | None:
        """The placeholder a segment becomes here, or None when it stays literal."""
        shape = shape_of(segment)
        if shape is not None:
            return shape
        return None if node is None else node.folded

    def _learn(self, node: _Node, segment: str, name: str | None, previous: str) -> _Node | None:
        if name is not None:
            return self._add(node.placeholders, name)
        if segment in node.literals or len(node.literals) < self.max_literals:
            return self._add(node.literals, segment)
        return self._add(node.placeholders, self._fold(node, previous))

    def _fold(self, node: _Node, previous: str) -> str:
        """One value too many here: from now on every word here is one placeholder."""
        self._nodes -= sum(child.size() for child in node.literals.values())
        node.literals = {}
        node.folded = placeholder_for(previous)
        return node.folded

    def _add(self, children: dict[str, _Node], key: str) -> _Node | None:
        if key in children:  # a folded name may equal a shape's (`ids` -> `{id}`)
            return children[key]
        if self._nodes >= self.max_nodes:
            return None
        self._nodes += 1
        children[key] = _Node()
        return children[key]


def _child(node: _Node | None, segment: str, name: str | None) -> _Node | None:
    if node is None:
        return None
    return node.literals.get(segment) if name is None else node.placeholders.get(name)


def templated_endpoint(rules: RuleSet, templater: EndpointTemplater, method: str, path: str) -> str:
    """The endpoint of a request: the match of the endpoint rule it falls under, else the
    learned template. (`RuleSet.resolve` returns one of `rules.endpoints` when a rule
    matches, else a copy of the defaults named after the literal path.)"""
    rule = rules.resolve(method, path)
    if rule in rules.endpoints:
        return rule.match
    return templater.template(method, path)
