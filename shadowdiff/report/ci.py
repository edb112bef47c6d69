"""CI outputs of a gate: JUnit XML (one testcase per endpoint) and a Markdown summary that
fits a pull-request comment. Pure: a GateResult and one example line per endpoint in, text out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from shadowdiff.gate import EndpointGate, GateResult

TOP_FIELDS = 5
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def failure_text(endpoint: EndpointGate, example: str | None) -> str:
    lines = [
        f"{endpoint.exchanges} exchanges: differs {endpoint.differs}, failed "
        f"{endpoint.failed}, errors {endpoint.errors}; diff rate {endpoint.diff_rate:.2%} "
        f"(max {endpoint.max_diff_rate:.2%})"
    ]
    lines += [
        f"  {f['kind']} {f['path']} in {f['count']} exchange(s){_tags(f)}"
        for f in signal_first(endpoint.fields)[:TOP_FIELDS]
    ]
    lines += [
        f"  error: {r['reason']} in {r['count']} exchange(s)" for r in endpoint.error_reasons[:3]
    ]
    lines += [
        f"  assertion {a['assertion']} ({a['rule']}) failed in {a['count']} exchange(s)"
        for a in endpoint.assertion_failures[:3]
    ]
    if example:
        lines.append(f"example: {example}")
    return "\n".join(lines)


def signal_first(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fields the noise evidence calls signal (or that have none) first, keeping the order."""
    return sorted(fields, key=lambda f: not f.get("noise", {}).get("signal", True))


def _tags(f: dict[str, Any]) -> str:
    """` [high]`, and ` [noise: 98% when sent twice]` for what the evidence calls noise."""
    tags = [f["severity"]] if "severity" in f else []
    noise = f.get("noise")
    if noise is not None and not noise["signal"]:
        tags.append(f"noise: {noise['rate']:.0%} when sent twice")
    return f" [{'; '.join(tags)}]" if tags else ""


def junit_xml(result: GateResult, examples: dict[str, str]) -> bytes:
    """One <testsuite> for the run, one <testcase> per endpoint; failing endpoints fail."""
    failures = sum(not e.passed for e in result.endpoints)
    suite = ET.Element(
        "testsuite",
        name=f"shadowdiff {result.run}",
        tests=str(len(result.endpoints)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    props = ET.SubElement(suite, "properties")
    for name in ("exchanges", "same", "differs", "failed", "errors", "skipped", "status"):
        ET.SubElement(props, "property", name=name, value=str(getattr(result, name)))
    for endpoint in result.endpoints:
        case = ET.SubElement(
            suite, "testcase", classname=f"shadowdiff.{result.run}", name=endpoint.endpoint
        )
        if not endpoint.passed:
            failure = ET.SubElement(
                case, "failure", message="; ".join(endpoint.reasons), type="shadowdiff.gate"
            )
            failure.text = failure_text(endpoint, examples.get(endpoint.endpoint))
    if result.status != "finished" or not result.exchanges:
        _add_run_failure(suite, result, failures)
    root = ET.Element("testsuites", name="shadowdiff")
    root.append(suite)
    for element in root.iter():  # ElementTree writes characters XML forbids as they are
        element.attrib = {k: _NOT_XML.sub("\ufffd", v) for k, v in element.attrib.items()}
        element.text = element.text and _NOT_XML.sub("\ufffd", element.text)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _add_run_failure(suite: ET.Element, result: GateResult, failures: int) -> None:
    """A failing `run` testcase for a run that did not finish or has no exchanges."""
    case = ET.SubElement(suite, "testcase", classname=f"shadowdiff.{result.run}", name="run")
    reasons = [r for r in result.reasons if ": " not in r or r.startswith("the run")]
    ET.SubElement(case, "failure", message="; ".join(reasons))
    suite.set("tests", str(len(result.endpoints) + 1))
    suite.set("failures", str(failures + 1))


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes, newlines, HTML)."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def markdown_summary(result: GateResult, examples: dict[str, str]) -> str:
    verdict = "✅ passed" if result.passed else "❌ failed"
    lines = [
        f"### shadowdiff gate {verdict} — run `{_md(result.run)}`",
        "",
        f"{result.exchanges} exchanges: same {result.same}, differs {result.differs}, failed "
        f"{result.failed}, errors {result.errors}, skipped {result.skipped}",
        "",
        "| endpoint | gate | severity | exchanges | diff rate | errors | top fields |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for e in result.endpoints:
        top = "<br>".join(
            f"`{_md(f['path'])}` {f['kind']} ({f['count']}){_md(_tags(f))}"
            for f in signal_first(e.fields)[:3]
        )
        top = top or "<br>".join(
            f"error: {_md(r['reason'])} ({r['count']})" for r in e.error_reasons[:2]
        )
        mark = "pass" if e.passed else "**FAIL**"
        lines.append(
            f"| `{_md(e.endpoint)}` | {mark} | {e.severity or ''} | {e.exchanges} | "
            f"{e.diff_rate:.2%} | "
            f"{e.errors} | {top} |"
        )
    failing = [e for e in result.endpoints if not e.passed and examples.get(e.endpoint)]
    if failing:
        lines += ["", "<details><summary>Examples</summary>", ""]
        lines += [f"- `{_md(e.endpoint)}`: {_md(examples[e.endpoint])}" for e in failing]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
