"""How much a difference matters (pure): a removed field, a type change, a status change or a
content-type change breaks clients (high); a changed value may (medium); an added field rarely
does (low). The gate can count only what reaches a severity (`gate --fail-on high`)."""

from __future__ import annotations

LOW, MEDIUM, HIGH = "low", "medium", "high"
SEVERITIES = (LOW, MEDIUM, HIGH)
_BY_KIND = {
    "missing": HIGH,
    "type_changed": HIGH,
    "status_changed": HIGH,
    "value_changed": MEDIUM,
    "length_changed": MEDIUM,
    "body_changed": MEDIUM,
    "header_changed": MEDIUM,
    "order_changed": LOW,
    "added": LOW,
}
CONTENT_TYPE = "headers.content-type"


def severity_of(kind: str, path: str) -> str:
    """The severity of a difference of this kind at this path."""
    if kind == "header_changed" and path.lower() == CONTENT_TYPE:
        return HIGH
    return _BY_KIND.get(kind, MEDIUM)


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def kinds_at_least(severity: str) -> tuple[list[str], bool]:
    """The kinds whose severity reaches `severity`, and whether a content-type change does."""
    kinds = [kind for kind, level in _BY_KIND.items() if rank(level) >= rank(severity)]
    return kinds, rank(HIGH) >= rank(severity)
