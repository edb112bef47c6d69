"""Render report contexts with jinja2: autoescape always on, templates in the package, one
self-contained file (inline CSS, no script, nothing fetched)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("shadowdiff", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = _pct
    env.filters["ms"] = _ms
    return env


def as_mapping(context: Any) -> dict[str, Any]:
    """A context dataclass's top-level fields, as the template's variables."""
    if not is_dataclass(context):
        raise TypeError("a report context is a dataclass")
    return {f.name: getattr(context, f.name) for f in fields(context)}


def render(template: str, context: Any) -> str:
    return environment().get_template(template).render(as_mapping(context))
