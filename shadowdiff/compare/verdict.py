"""One exchange's comparison: status, then headers and body, then assertions -> verdict.

A status change is reported alone: an error page's headers and body are not comparable with
the success it replaced.
"""

from __future__ import annotations

import json
from typing import Any

from shadowdiff.compare.assertions import NO_JSON, check_assertions
from shadowdiff.compare.diff import diff_json
from shadowdiff.compare.headers import diff_headers
from shadowdiff.compare.model import DIFFERS, ERROR, FAILED, SAME, Comparison, Difference
from shadowdiff.compare.normalize import normalize_pair
from shadowdiff.exchange import Response
from shadowdiff.http1 import DecodeError
from shadowdiff.rules.model import EndpointRule

SNIPPET = 200
UNPARSED = object()  # the candidate's body, not parsed yet


class CandidateUnreadable(ValueError):
    """The candidate answered something that cannot be decoded: an `error` verdict."""


def compare_responses(
    baseline: Response | None, candidate: Response, rule: EndpointRule
) -> Comparison:
    """Compare a candidate with its baseline (None: assertions only) under a rule."""
    try:
        return _compare(baseline, candidate, rule)
    except CandidateUnreadable as exc:
        return Comparison(ERROR, error=str(exc))
    except RecursionError:
        return Comparison(ERROR, error="a body is nested too deeply to compare")


def _compare(baseline: Response | None, candidate: Response, rule: EndpointRule) -> Comparison:
    # The candidate's body is parsed when something reads it (assertions, a body that
    # differs from the baseline's) or when it is all there is (no baseline: an unreadable
    # body is then the error). An answer equal to the origin's, byte for byte, is not
    # parsed at all: most of a replay's answers.
    body = _parsed(candidate) if rule.assertions or baseline is None else UNPARSED
    results = check_assertions(rule.assertions, candidate.status, body)
    # after the assertions: normalising edits the parsed candidate in place
    differences = [] if baseline is None else _differences(baseline, candidate, body, rule)
    verdict = FAILED if any(not r.passed for r in results) else DIFFERS if differences else SAME
    return Comparison(verdict, tuple(differences), results)


def _parsed(candidate: Response) -> Any:
    try:
        content = candidate.content
    except DecodeError as exc:
        raise CandidateUnreadable(f"candidate body: {exc}") from None
    if not candidate.is_json or not content.strip():
        return NO_JSON  # an empty body (204, HEAD) has nothing to parse, whatever its type says
    try:
        return json.loads(content)
    except ValueError as exc:
        raise CandidateUnreadable(f"candidate body is not valid JSON: {exc}") from None


def _differences(
    baseline: Response, candidate: Response, candidate_body: Any, rule: EndpointRule
) -> list[Difference]:
    if baseline.status != candidate.status:
        return [Difference("status", "status_changed", baseline.status, candidate.status)]
    body = _body_differences(baseline, candidate, candidate_body, rule)
    return diff_headers(baseline.headers, candidate.headers, rule) + body


def _body_differences(
    baseline: Response, candidate: Response, candidate_body: Any, rule: EndpointRule
) -> list[Difference]:
    if (
        baseline.body == candidate.body
        and baseline.header("Content-Encoding") == candidate.header("Content-Encoding")
        and baseline.header("Transfer-Encoding") == candidate.header("Transfer-Encoding")
    ):
        return []
    try:
        old_content = baseline.content
    except DecodeError:
        old_content = baseline.body
    if candidate_body is UNPARSED:
        candidate_body = _parsed(candidate)
    if old_content == candidate.content:
        return []
    old_body = _json_or_none(baseline, old_content)
    if old_body is NO_JSON or candidate_body is NO_JSON:
        return [
            Difference("body", "body_changed", _snippet(old_content), _snippet(candidate.content))
        ]
    return diff_json(*normalize_pair(old_body, candidate_body, rule))


def _json_or_none(response: Response, content: bytes) -> Any:
    try:
        return json.loads(content) if response.is_json else NO_JSON
    except (ValueError, DecodeError):
        return NO_JSON


def _snippet(content: bytes) -> str:
    text = content[:SNIPPET].decode("utf-8", errors="replace")
    return text + (f"… ({len(content)} bytes)" if len(content) > SNIPPET else "")
