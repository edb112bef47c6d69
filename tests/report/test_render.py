"""The HTML report rendered from real stores: content, escaping of hostile data, size, and
nothing loaded over the network; and the template's contract with its context values."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import jinja2
import pytest
from sqlite_utils import Database

from shadowdiff.compare.model import Difference
from shadowdiff.gate import EndpointGate, GatePolicy, GateResult
from shadowdiff.report.bodies import Line, ShownMessage
from shadowdiff.report.context import (
    DifferenceRow,
    EndpointReport,
    ErrorGroup,
    Example,
    FieldReport,
    ReportContext,
    build_report,
)
from shadowdiff.report.queries import Percentiles
from shadowdiff.report.render import as_mapping, environment, render
from shadowdiff.store import RunWriter, open_store
from shadowdiff.store.query import RunInfo
from shadowdiff.testing import make_response
from tests.report import (
    BREAKOUT,
    IMG,
    SCRIPT,
    UNICODE,
    assert_safe_page,
    failed_assertion,
    read_page,
    result,
    store_run,
)

HOSTILE = [SCRIPT, IMG, BREAKOUT, UNICODE]
USERS = "GET /api/users/{id}"


def hostile_run(db: Database) -> None:
    """Hostile data in every place a value reaches the page."""
    evil_endpoint = f"GET /api/{IMG}"
    results = []
    for i, text in enumerate(HOSTILE):
        base = make_response(json={"id": i, "bio": "plain", "note": text})
        cand = make_response(json={"id": i, "bio": text, "note": text})
        diff = Difference("$.bio", "value_changed", "plain", text)
        results.append(result(USERS, f"/api/users/{i}?q=%3Cscript%3E", base, cand, [diff]))
    html_base = make_response(body=f"<p>{SCRIPT}</p>".encode(), content_type="text/html")
    html_cand = make_response(body=f"{BREAKOUT}{IMG}".encode(), content_type="text/html")
    results.append(
        result(evil_endpoint, "/api/x", html_base, html_cand, [Difference("body", "body_changed")])
    )
    binary = make_response(body=b"\x00\x01\x02PK\x03\x04" + bytes(200), content_type="image/png")
    packed = gzip.compress(json.dumps({"a": SCRIPT}).encode())
    undeclared = make_response(body=packed, content_type="application/json")
    results.append(
        result(
            "GET /api/files/{id}",
            "/api/files/1",
            binary,
            undeclared,
            [
                Difference("body", "body_changed"),
                Difference("headers.content-type", "header_changed"),
            ],
        )
    )
    big = {"items": [{"id": k, "name": f"{SCRIPT} {k}", "p": k} for k in range(3000)]}
    changed = {"items": [dict(x, p=-1) if x["id"] == 2000 else x for x in big["items"]]}
    results.append(
        result(
            "GET /api/big",
            "/api/big",
            make_response(json=big),
            make_response(json=changed),
            [Difference("$.items[2000].p", "value_changed", 2000, -1)],
        )
    )
    results.append(result(f"POST /api/{SCRIPT}", "/api/s", error=f"candidate said {BREAKOUT}"))
    results.append(result(USERS, "/api/users/9", error=f"candidate said {BREAKOUT}"))
    results.append(result(USERS, "/api/users/8", error=UNICODE))
    results.append(
        result(USERS, "/api/users/7", assertions=[failed_assertion(f"rules/{IMG}.yaml:7")])
    )
    store_run(
        db,
        f"night {SCRIPT}",
        results,
        target=f"http://staging/{BREAKOUT}",
        source=[f"{IMG}.gor", UNICODE],
    )


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    store = open_store(tmp_path_factory.mktemp("hostile") / "shadowdiff.db")
    try:
        hostile_run(store)
        return render("report.html.j2", build_report(store, None, GatePolicy()))
    finally:
        store.close()


def test_hostile_bodies_are_escaped_and_nothing_is_active(hostile_html: str) -> None:
    assert_safe_page(hostile_html)
    for raw in ("<script", "<img", "</pre><script"):
        assert raw not in hostile_html


def test_hostile_values_are_shown_as_text(hostile_html: str) -> None:
    text = read_page(hostile_html).all_text
    for value in HOSTILE:
        assert value in text
    assert f"night {SCRIPT}" in text
    assert f"GET /api/{IMG}" in text
    assert f"http://staging/{BREAKOUT}" in text
    assert f"rules/{IMG}.yaml:7" in text
    assert f"candidate said {BREAKOUT}" in text


def test_binary_and_undeclared_gzip_are_hex(hostile_html: str) -> None:
    text = read_page(hostile_html).all_text
    assert "\x00" not in hostile_html
    assert "binary, 207 bytes (first 256 in hex)" in text
    assert "0001 0250 4b03 0400 00" in text  # the PNG-ish bytes
    assert "1f8b 08" in text  # gzip magic, not decoded as it was not declared


def test_a_big_body_is_an_excerpt_around_its_difference(hostile_html: str) -> None:
    text = read_page(hostile_html).all_text
    assert '"p": -1' in text and '"id": 2000,' in text
    assert f'"name": "{SCRIPT} 1500"' not in text  # far from the difference: left out
    assert ", excerpt" in text and "…" in text


def test_report_content(hostile_html: str) -> None:
    page = read_page(hostile_html)
    text = page.all_text
    assert "FAILED" in text
    for endpoint in (USERS, "GET /api/files/{id}", "GET /api/big", f"POST /api/{SCRIPT}"):
        assert endpoint in text
    # fields with counts and shares: users has 7 exchanges, 4 differ on $.bio
    assert "$.bio" in text and "57.14%" in text
    assert "headers.content-type" in text and "header_changed" in text
    # examples: every field links to example sections that exist
    anchors = [v for tag, name, v in page.attributes if tag == "a" and name == "href"]
    assert anchors and all(v is not None and v[1:] in page.ids for v in anchors)
    assert len({v for v in anchors if v and v.startswith("#exchange-")}) == 7
    # errors grouped by reason, with counts and the endpoints
    assert "Errors" in text and f"candidate said {BREAKOUT}" in text
    assert text.count(f"candidate said {BREAKOUT}") == 1
    # assertion failures with the rule's file:line
    assert "Assertion failures" in text and "$.email exists: True" in text


def test_text_run_values_and_latency(db: Database) -> None:
    store_run(db, "r1", [result(latency=12.5, baseline_latency=3.25), result(latency=40.0)])
    text = read_page(render("report.html.j2", build_report(db, None, GatePolicy()))).all_text
    assert "PASSED" in text and "r1" in text and "traffic.gor" in text
    assert "3.2 ms / 3.2 ms" in text and "12.5 ms / 40.0 ms" in text


@pytest.fixture
def big_store(tmp_path: Path) -> Iterator[Database]:
    """A store that is deleted afterwards (it holds ~800 MB)."""
    path = tmp_path / "big.db"
    store = open_store(path)
    store.execute("PRAGMA journal_mode = OFF")  # speed only: half the writing
    store.execute("PRAGMA synchronous = OFF")
    yield store
    store.close()
    path.unlink()


def test_many_big_exchanges_still_make_a_small_report(big_store: Database) -> None:
    """2,000 exchanges with 200 KB bodies: examples are sampled, bodies cut."""
    items = [{"id": k, "p": k} for k in range(40)]
    base = make_response(json={"items": items, "blob": "x" * 200_000})
    cand = make_response(json={"items": [dict(x, p=-1) for x in items], "blob": "y" * 200_000})
    assert len(base.body) > 200_000
    diffs = [Difference(f"$.items[{k}].p", "value_changed", k, -1) for k in (3, 30)]
    diffs.append(Difference("$.blob", "value_changed", "x…", "y…"))
    results = [
        result(f"GET /api/e{i % 20}", f"/api/e{i % 20}/{i}", base, cand, diffs, latency=1.0)
        for i in range(2_000)
    ]
    store_run(big_store, "big", results)
    html = render("report.html.j2", build_report(big_store, None, GatePolicy()))
    assert len(html.encode()) < 5_000_000
    page = assert_safe_page(html)
    assert sum(1 for i in page.ids if i.startswith("exchange-")) == 20 * 5
    assert "3 differences" in page.all_text
    assert "(200,012 characters)" in page.all_text


# The template's contract with its context values


def every_value_set() -> ReportContext:
    lines = [Line("HTTP/1.1 500 Internal", True), Line("X-Head: h1")]
    body = [Line('"body-line": 1', True), Line("…", gap=True), Line('"after-gap": 2')]
    endpoint_gate = EndpointGate(
        "GET /api/ctx-endpoint",
        20,
        11,
        6,
        2,
        1,
        0,
        0.3,
        0.05,
        False,
        ["diff rate 30.00% > 5.00%"],
        [{"path": "$.ctx-field", "kind": "value_changed", "count": 6}],
        [{"reason": "ctx-timeout", "count": 1}],
        [{"assertion": "ctx-assertion", "rule": "rules/ctx.yaml:9", "count": 2}],
    )
    gate = GateResult(
        "ctx-run",
        False,
        "interrupted",
        20,
        11,
        6,
        2,
        1,
        0,
        3,
        ["the run is interrupted"],
        [endpoint_gate],
    )
    example = Example(
        41,
        "exchange-41",
        "GET /api/ctx/41",
        "differs",
        None,
        ["GET /api/ctx/41 HTTP/1.1", "Host: ctx-host"],
        "ctx-request-body",
        ShownMessage(lines, body, "ctx-baseline-note"),
        ShownMessage([Line("HTTP/1.1 200 OK")], [Line("ctx-candidate-line")], "ctx-cand-note"),
        [DifferenceRow("$.ctx-field", "value_changed", "ctx-old", "ctx-new")],
        3,
    )
    return ReportContext(
        RunInfo(
            7,
            "ctx-run",
            "interrupted",
            ["ctx-source-a.gor", "ctx-source-b.gor"],
            "http://ctx-target",
            "http://ctx-baseline",
            {"*": 0.05},
            {"ctx": 1},
            "2024-05-01T00:00:00+00:00",
            "2024-05-01T01:00:00+00:00",
            3,
        ),
        gate,
        [
            EndpointReport(
                endpoint_gate,
                "endpoint-0",
                Percentiles(1.5, 2.5),
                Percentiles(3.5, 4.5),
                [FieldReport("$.ctx-field", "value_changed", 6, 0.3, ["exchange-41"])],
                [example],
            )
        ],
        [ErrorGroup("ctx-timeout", 1, ["GET /api/ctx-endpoint"], "GET /api/ctx/1")],
        [
            {
                "endpoint": "GET /api/ctx-endpoint",
                "assertion": "ctx-assertion",
                "rule": "rules/ctx.yaml:9",
                "count": 2,
            }
        ],
        "2024-05-02T03:04:05+00:00",
        "9.9.9-ctx",
    )


def test_every_context_value_reaches_the_page() -> None:
    html = render("report.html.j2", every_value_set())
    page = assert_safe_page(html)
    text = page.all_text
    for shown in (
        "ctx-run",
        "ctx-source-a.gor, ctx-source-b.gor",
        "http://ctx-target",
        "http://ctx-baseline",
        "2024-05-01T00:00:00+00:00 → 2024-05-01T01:00:00+00:00 (interrupted)",
        "unreadable records",
        "the run is interrupted",
        "GET /api/ctx-endpoint",
        "diff rate 30.00% > 5.00%",
        "30.00%",
        "5.00%",
        "1.5 ms / 2.5 ms",
        "3.5 ms / 4.5 ms",
        "$.ctx-field",
        "GET /api/ctx/41",
        "3 differences",
        "ctx-old",
        "ctx-new",
        "… and 2 more",
        "Host: ctx-host",
        "ctx-request-body",
        "ctx-baseline-note",
        "ctx-cand-note",
        "ctx-candidate-line",
        '"after-gap": 2',
        "ctx-timeout",
        "GET /api/ctx/1",
        "ctx-assertion",
        "rules/ctx.yaml:9",
        "2024-05-02T03:04:05+00:00",
        "9.9.9-ctx",
    ):
        assert shown in text, shown
    assert {"endpoint-0", "exchange-41", "endpoints", "errors", "assertions"} <= page.ids
    classes = {v for _, name, v in page.attributes if name == "class"}
    assert {"m", "g", "badge fail", "tile bad"} <= classes


@pytest.mark.parametrize("missing", [f.name for f in fields(ReportContext)])
def test_a_missing_context_value_fails_the_render(missing: str) -> None:
    values = as_mapping(every_value_set())
    del values[missing]
    with pytest.raises(jinja2.UndefinedError):
        environment().get_template("report.html.j2").render(values)


def test_a_missing_attribute_fails_the_render() -> None:
    values = as_mapping(every_value_set())
    values["run"] = {"name": "no other attributes"}
    with pytest.raises(jinja2.UndefinedError):
        environment().get_template("report.html.j2").render(values)


def test_empty_lists_render() -> None:
    context = every_value_set()
    empty = replace(context, endpoints=[], errors=[], assertion_failures=[])
    text = read_page(render("report.html.j2", empty)).all_text
    assert "Assertion failures" not in text and "Errors" not in text


def test_render_takes_a_context_dataclass() -> None:
    with pytest.raises(TypeError):
        render("report.html.j2", {"run": None})


def test_autoescape_is_on_for_every_template() -> None:
    template = environment().from_string("{{ value }}")
    assert template.render(value=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_filters() -> None:
    env = environment()
    assert env.from_string("{{ 0.1234 | pct }} {{ none | pct }}").render(none=None) == "12.34% —"
    assert env.from_string("{{ 3.21 | ms }} {{ none | ms }}").render(none=None) == "3.2 ms —"
    assert env.from_string("{{ 12345.6 | ms }}").render() == "12,345.6 ms"


def test_a_live_runs_capture_losses_are_shown_by_reason(db: Database) -> None:
    writer = RunWriter(db, "live", {"target": "http://staging"})
    writer.add(result(USERS, "/api/users/1"))
    capture = {"kernel_dropped": 7, "requests_without_response": 2, "holes": 1, "lost": 2}
    writer.finish("finished", {"captured": 3, "shed": 4, "capture": capture, "lost": 6})
    page = render("report.html.j2", build_report(db, "live", GatePolicy()))
    assert "packets dropped <b>7</b>" in page
    assert "requests without response <b>2</b>" in page and "shed <b>4</b>" in page
    assert "<b>6</b><span>lost by the capture</span>" in page


def test_a_tshark_capture_says_its_kernel_drops_are_unknown(db: Database) -> None:
    writer = RunWriter(db, "live", {"target": "http://staging"})
    writer.add(result(USERS, "/api/users/1"))
    writer.finish("finished", {"captured": 1, "capture": {"kernel_dropped": None, "lost": 0}})
    page = render("report.html.j2", build_report(db, "live", GatePolicy()))
    assert "packets dropped <b>unknown</b>" in page
