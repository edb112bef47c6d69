"""Rule suggestions from noise evidence (rules/suggest.py) and their writing (rules/edit.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from shadowdiff.compare.noise import EndpointNoise, FieldRate, NoiseThresholds
from shadowdiff.rules import load_rules
from shadowdiff.rules.edit import edit_rules
from shadowdiff.rules.suggest import EndpointFacts, Suggestion, suggest

EP = "GET /api/users/{id}"


def facts(
    fields: dict[tuple[str, str], int], noise: dict[tuple[str, str], FieldRate]
) -> EndpointFacts:
    rows = [{"path": p, "kind": k, "count": n} for (p, k), n in fields.items()]
    return EndpointFacts(EP, 100, rows, EndpointNoise(100, noise), NoiseThresholds(), None)


def rate(n: int, **extra: object) -> FieldRate:
    return FieldRate(n / 100, n, 100, **extra)  # type: ignore[arg-type]


def actions(found: list[Suggestion]) -> set[tuple[str, str, object]]:
    return {(s.action, s.path, s.value) for s in found}


def test_each_kind_of_noise_gets_its_rule() -> None:
    found, refused = suggest(
        facts(
            {
                ("$.request_id", "value_changed"): 100,
                ("$.score", "value_changed"): 97,
                ("$.tags", "order_changed"): 99,
                ("$.friends[*].name", "value_changed"): 90,
                ("headers.x-nonce", "header_changed"): 100,
            },
            {
                ("$.request_id", "value_changed"): rate(100, numeric=False),
                ("$.score", "value_changed"): rate(98, max_delta=0.0007),
                ("$.tags", "order_changed"): rate(99),
                ("$.friends", "order_changed"): rate(95, array_key="id"),
                ("headers.x-nonce", "header_changed"): rate(100, numeric=False),
            },
        )
    )
    assert actions(found) == {
        ("ignore", "$.request_id", None),
        ("tolerance", "$.score", 0.002),
        ("unordered", "$.tags", None),
        ("array_keys", "$.friends", "id"),
        ("headers.ignore", "x-nonce", None),
    }
    assert not refused


def test_nothing_structural_nothing_signal_nothing_that_hides_a_regression() -> None:
    found, refused = suggest(
        facts(
            {
                ("$.promo", "missing"): 30,  # noisy presence: structural
                ("$.total", "value_changed"): 100,  # a regression, slightly noisy
                ("$.ts", "value_changed"): 100,  # noise...
                ("$.ts", "type_changed"): 100,  # ...that also changed type: signal
                ("$", "value_changed"): 100,
                ("headers.content-type", "header_changed"): 100,
                ("$.count", "value_changed"): 100,  # large integer changes: not jitter
            },
            {
                ("$.promo", "missing"): rate(30, numeric=False),
                ("$.total", "value_changed"): rate(5),
                ("$.ts", "value_changed"): rate(100, numeric=False),
                ("$", "value_changed"): rate(100, numeric=False),
                ("headers.content-type", "header_changed"): rate(100, numeric=False),
                ("$.count", "value_changed"): rate(100, max_delta=40.0),
            },
        )
    )
    assert actions(found) == {("ignore", "$.count", None)}
    reasons = {r.path: r.reason for r in refused}
    assert reasons["$.promo"] == "a structural change is never suggested"
    assert reasons["$.total"].startswith("signal, not noise")
    assert reasons["$.ts"] == "ignoring it would hide type_changed at $.ts"
    assert reasons["$"].startswith("over-broad")
    assert reasons["headers.content-type"] == "Content-Type is never ignored"


def test_too_little_evidence_or_nothing_to_hide_suggests_nothing() -> None:
    found, refused = suggest(
        facts(
            {("$.a", "value_changed"): 1},
            {("$.a", "value_changed"): rate(1), ("$.b", "value_changed"): rate(50)},
        )
    )
    assert not found and not refused  # $.a: seen once; $.b: never differs in the run


QA = textwrap.dedent(
    """\
    # Checkout rules (QA: keep this header)
    defaults:
      max_diff_rate: 0.0  # spotless

    endpoints:
    # users: the profile service
    - match: GET /api/users/{id}
      ignore: $.etag  # one path, not a list
      assert:
      - {status: 200}

    - match: GET /api/orders/{id}
      tolerance: {$.balance: 0.001}
    """
)


def test_edits_keep_comments_order_and_the_files_own_indentation(tmp_path: Path) -> None:
    (tmp_path / "qa.yaml").write_text(QA)
    rules = load_rules(tmp_path)
    suggestions = [
        Suggestion(EP, "ignore", "$.request_id", None, ""),
        Suggestion(EP, "headers.ignore", "x-nonce", None, ""),
        Suggestion("GET /api/orders/{id}", "tolerance", "$.score", 0.002, ""),
        Suggestion("GET /api/orders/{id}", "tolerance", "$.balance", 5.0, ""),  # has one
        Suggestion("GET /api/carts", "unordered", "$.lines", None, ""),
    ]
    edits = edit_rules(tmp_path, rules, suggestions, "nightly")
    qa_after = edits[tmp_path / "qa.yaml"][1]
    assert qa_after == textwrap.dedent(
        """\
        # Checkout rules (QA: keep this header)
        defaults:
          max_diff_rate: 0.0  # spotless

        endpoints:
        # users: the profile service
        - match: GET /api/users/{id}
          ignore: [$.etag, $.request_id] # one path, not a list
          # suggested from the noise of run nightly
          headers: {ignore: [x-nonce]}
          assert:
          - {status: 200}

        - match: GET /api/orders/{id}
          tolerance: {$.balance: 0.001, $.score: 0.002}
        """
    )
    new = edits[tmp_path / "suggested.yaml"][1]
    assert "match: GET /api/carts" in new and "unordered: [$.lines]" in new
    for path, (_, after) in edits.items():
        path.write_text(after)
    again = load_rules(tmp_path)  # what was written loads, with the suggestions in force
    users = again.resolve("GET", "/api/users/7")
    assert users.ignore == ("$.etag", "$.request_id") and "x-nonce" in users.header_ignore
    assert dict(again.resolve("GET", "/api/orders/1").tolerance)["$.score"] == 0.002
    assert again.resolve("GET", "/api/carts").unordered == ("$.lines",)
