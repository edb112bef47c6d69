"""Tests of shadowdiff.report; `store_run` builds runs in a real SQLite store for them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from sqlite_utils import Database

from shadowdiff.compare.model import AssertionResult, Comparison, Difference
from shadowdiff.exchange import Response
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter
from shadowdiff.testing import make_exchange, make_request, make_response

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
BREAKOUT = '"></pre><script>'
UNICODE = "🦊 שלום עולם 漢字かな"  # emoji, RTL, CJK

TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
    "code", "span", "dl", "dt", "dd", "div", "b", "ul", "li", "nav", "a", "section", "table",
    "thead", "tbody", "tr", "th", "td", "details", "summary", "pre", "footer", "p", "br",
}  # fmt: skip


def result(
    endpoint: str = "GET /api/users/{id}",
    target: str = "/api/users/1",
    baseline: Response | None = None,
    candidate: Response | None = None,
    differences: Iterable[Difference] = (),
    assertions: Iterable[AssertionResult] = (),
    error: str | None = None,
    verdict: str | None = None,
    latency: float | None = None,
    baseline_latency: float | None = None,
) -> ExchangeResult:
    """One exchange result; the verdict follows from what is given unless set."""
    differences, assertions = tuple(differences), tuple(assertions)
    if verdict is None:
        failed = any(not a.passed for a in assertions)
        verdict = "error" if error else "failed" if failed else "differs" if differences else "same"
    method = endpoint.split(" ", 1)[0]
    base = baseline if baseline is not None else make_response(json={"id": 1})
    return ExchangeResult(
        make_exchange(make_request(method, target), base),
        endpoint,
        Comparison(verdict, differences, assertions, error),
        baseline=base,
        candidate=candidate if candidate is not None or error else base,
        candidate_latency=latency,
        baseline_latency=baseline_latency,
    )


def failed_assertion(where: str = "rules/users.yaml:12", path: str = "$.email") -> AssertionResult:
    return AssertionResult(Assertion("exists", True, path, where), False, f"{path} is missing")


def store_run(
    db: Database,
    name: str,
    results: Iterable[ExchangeResult],
    thresholds: dict[str, float] | None = None,
    status: str = "finished",
    target: str = "http://candidate.test:8080",
    source: Iterable[str] = ("traffic.gor",),
) -> int:
    """A run holding `results`, finished (or with `status`); returns its id."""
    writer = RunWriter(
        db,
        name,
        {
            "target": target,
            "source": json.dumps(list(source)),
            "thresholds": json.dumps(thresholds or {}),
        },
    )
    for item in results:
        writer.add(item)
    writer.finish(status, {})
    return writer.run_id


@dataclass
class Page:
    """What an HTML page holds, as `html.parser` reads it."""

    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str, str | None]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append(tag)
        self.page.attributes += [(tag, name, value) for name, value in attrs]
        self.page.ids.update(value for name, value in attrs if name == "id" and value)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.page.styles if self._in_style else self.page.text).append(data)


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def assert_safe_page(html: str) -> Page:
    """Only the template's own tags; nothing active; nothing fetched from anywhere."""
    page = read_page(html)
    assert set(page.tags) <= TEMPLATE_TAGS, set(page.tags) - TEMPLATE_TAGS
    for forbidden in ("script", "img", "iframe", "object", "embed", "base", "link", "form"):
        assert forbidden not in page.tags
    for tag, name, value in page.attributes:
        assert not name.startswith("on"), (tag, name, value)
        assert name not in ("src", "srcset", "action", "formaction", "style"), (tag, name)
        if name == "href":
            assert value is not None and value.startswith("#"), value
    css = "".join(page.styles).lower()
    for word in ("url(", "@import", "http", "expression("):
        assert word not in css
    return page
