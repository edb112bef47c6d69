"""CI outputs of a gate (pure): JUnit XML and the Markdown summary for a pull request."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from shadowdiff.gate import EndpointGate, GatePolicy, GateResult, evaluate_endpoint, evaluate_gate
from shadowdiff.report.ci import failure_text, junit_xml, markdown_summary
from tests.report import BREAKOUT, IMG, SCRIPT

USERS = "GET /api/users/{id}"
ORDERS = "GET /api/orders/{id}"
HEALTH = "GET /api/health"


def endpoint(
    name: str,
    same: int = 0,
    differs: int = 0,
    errors: int = 0,
    failed: int = 0,
    fields: list[dict[str, Any]] | None = None,
    reasons: list[dict[str, Any]] | None = None,
    asserts: list[dict[str, Any]] | None = None,
) -> EndpointGate:
    verdicts = {"same": same, "differs": differs, "error": errors, "failed": failed}
    return evaluate_endpoint(
        name, verdicts, GatePolicy(), fields or [], reasons or [], asserts or []
    )


def gate(*endpoints: EndpointGate, status: str = "finished", run: str = "ci-42") -> GateResult:
    return evaluate_gate(run, status, 0, list(endpoints))


def sample_gate() -> GateResult:
    return gate(
        endpoint(
            USERS,
            same=6,
            differs=4,
            fields=[{"path": "$.name", "kind": "value_changed", "count": 4}],
        ),
        endpoint(ORDERS, same=1, errors=2, reasons=[{"reason": "timeout", "count": 2}]),
        endpoint(
            "POST /api/cart",
            same=3,
            failed=1,
            asserts=[
                {"assertion": "$.id type: 'integer'", "rule": "rules/cart.yaml:4", "count": 1}
            ],
        ),
        endpoint(HEALTH, same=5),
    )


EXAMPLES = {
    USERS: 'GET /api/users/3: $.name value_changed, baseline "a", candidate "b"',
    ORDERS: "error: timeout",
}


def parse(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def test_junit_has_one_testcase_per_endpoint_and_failing_ones_fail() -> None:
    result = sample_gate()
    root = parse(junit_xml(result, EXAMPLES))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "shadowdiff ci-42"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {USERS, ORDERS, "POST /api/cart", HEALTH}
    assert cases[HEALTH].find("failure") is None
    failing = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failing == {USERS, ORDERS, "POST /api/cart"}
    users = cases[USERS].find("failure")
    assert users is not None
    assert users.get("message") == "diff rate 40.00% > 0.00%"
    assert users.text is not None
    assert "value_changed $.name in 4 exchange(s)" in users.text
    assert users.text.endswith(f"example: {EXAMPLES[USERS]}")
    cart = cases["POST /api/cart"].find("failure")
    assert cart is not None and cart.text is not None
    assert "assertion $.id type: 'integer' (rules/cart.yaml:4) failed in 1" in cart.text
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {
        "exchanges": "22",
        "same": "15",
        "differs": "4",
        "failed": "1",
        "errors": "2",
        "skipped": "0",
        "status": "finished",
    }


def test_junit_of_a_passing_run() -> None:
    suite = parse(junit_xml(gate(endpoint(HEALTH, same=3)), {})).find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert [c.find("failure") for c in suite.iter("testcase")] == [None]


def test_junit_marks_an_unfinished_or_empty_run_as_a_failing_testcase() -> None:
    suite = parse(junit_xml(gate(endpoint(HEALTH, same=3), status="interrupted"), {})).find(
        "testsuite"
    )
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    run = [c for c in suite.iter("testcase") if c.get("name") == "run"]
    failure = run[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "the run is interrupted, not finished"
    empty = parse(junit_xml(gate(), {})).find("testsuite")
    assert empty is not None
    run_failure = empty.find("testcase/failure")
    assert run_failure is not None and run_failure.get("message") == "the run has no exchanges"


def test_junit_escapes_hostile_text_and_stays_parseable() -> None:
    name = f"GET /api/{SCRIPT}&{BREAKOUT}"
    result = gate(
        endpoint(name, errors=1, reasons=[{"reason": f"bad \x00\x1b{IMG}", "count": 1}]),
        run="ci\x07<&>",
    )
    xml = junit_xml(result, {name: f"error: bad \x00{IMG}"})
    root = parse(xml)
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == name
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert f"bad \ufffd\ufffd{IMG}" in failure.text
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "shadowdiff ci\ufffd<&>"


def test_failure_text_is_bounded() -> None:
    fields = [{"path": f"$.f{i}", "kind": "added", "count": 1} for i in range(50)]
    text = failure_text(endpoint(USERS, differs=1, fields=fields), None)
    assert len(text.splitlines()) == 1 + 5
    assert "example" not in text


def markdown_table(text: str) -> list[list[str]]:
    """The rows of the table, split on unescaped pipes."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_markdown_summary() -> None:
    text = markdown_summary(sample_gate(), EXAMPLES)
    assert text.startswith("### shadowdiff gate ❌ failed — run `ci-42`\n")
    assert "22 exchanges: same 15, differs 4, failed 1, errors 2, skipped 0" in text
    rows = markdown_table(text)
    assert rows[0] == [
        "endpoint", "gate", "severity", "exchanges", "diff rate", "errors", "top fields"
    ]  # fmt: skip
    assert all(len(row) == 7 for row in rows)
    by_name = {row[0]: row for row in rows[2:]}
    assert by_name[f"`{USERS}`"] == [
        f"`{USERS}`",
        "**FAIL**",
        "",
        "10",
        "40.00%",
        "0",
        "`$.name` value_changed (4)",
    ]
    assert by_name[f"`{ORDERS}`"][6] == "error: timeout (2)"
    assert by_name[f"`{HEALTH}`"][1] == "pass"
    assert "<details><summary>Examples</summary>" in text
    assert f"- `{USERS}`: {EXAMPLES[USERS]}" in text
    assert len(text) < 65_536  # GitHub's limit for a comment


def test_markdown_of_a_passing_run_has_no_examples() -> None:
    text = markdown_summary(gate(endpoint(HEALTH, same=1)), {})
    assert "✅ passed" in text and "<details>" not in text


def test_markdown_escapes_pipes_and_html_from_data() -> None:
    name = f"GET /a|b/{SCRIPT}"
    result = gate(
        endpoint(
            name,
            differs=1,
            fields=[{"path": f"$['x|y']{IMG}", "kind": "added", "count": 1}],
        ),
        endpoint("GET /c", errors=1, reasons=[{"reason": f"bad\n{BREAKOUT}|", "count": 1}]),
        run=f"<b>{SCRIPT}</b>",
    )
    text = markdown_summary(result, {name: f"GET /a|b: {IMG}", "GET /c": f"error: {BREAKOUT}"})
    rows = markdown_table(text)
    assert all(len(row) == 7 for row in rows)
    assert rows[2][0] == "`GET /a\\|b/&lt;script&gt;alert(1)&lt;/script&gt;`"
    # the only HTML is the summary's own <details>, <summary> and <br>
    tags = set(re.findall(r"</?([a-zA-Z][\w-]*)", text))
    assert tags <= {"details", "summary", "br"}
    assert "&lt;b&gt;" in text.splitlines()[0]
    body = [line for line in text.splitlines() if not line.startswith("|")]
    assert all("\n" not in line for line in body)


def test_markdown_many_endpoints_still_fit_a_comment() -> None:
    endpoints = [
        endpoint(
            f"GET /api/e{i}",
            differs=1,
            fields=[{"path": f"$.f{k}", "kind": "added", "count": 1} for k in range(20)],
        )
        for i in range(100)
    ]
    text = markdown_summary(gate(*endpoints), {f"GET /api/e{i}": "x" * 300 for i in range(100)})
    assert len(text) < 65_536
