"""Benchmark: compare 100,000 pairs of 2 KB JSON bodies, shadowdiff against a DeepDiff loop.

    python -m tests.benchmarks.bench_compare [--pairs 100000] [--naive-sample 10000]

The corpus (seeded, built before any clock starts) is one endpoint, `GET /api/orders/{id}`,
whose ~2 KB answers hold a customer object, an array of line items with ids, numbers,
strings, an unordered `tags` array, a `balance` recomputed in floating point, and a `meta`
object with a fresh request id and timestamp. Its rules (`RULES`, loaded with
`load_rules` as a replay would) ignore `$.meta.request_id` and `$.meta.generated_at`, compare
`$.tags` unordered and `$.balance` within 0.001.

Pairs, as real `Response` values (`shadowdiff.testing.make_response`, volatile `Date` and
`X-Request-Id` headers differing): 95% are the same after the rules: 30% byte-identical,
40% differing in the ignored fields only, 15% also with `tags` reordered, 10% also with
`balance` jitter below the tolerance. 5% differ for real: a changed value (a line item's
price or the status), a missing key, a type change (a quantity as a string), a line item
more or less.

The reference is what a user would write by hand: per pair, `json.loads` both bodies and call
`DeepDiff(a, b, exclude_regex_paths=..., ignore_order_func=<tags only>, math_epsilon=0.001)`;
the verdict is `differs` iff its result is non-empty. Ignores and the unordered array are
exact. DeepDiff has no tolerance per path: `math_epsilon` applies to every number, so the
corpus keeps the reference's verdict well-defined: its only jitter below 0.001 is on
`balance`, and every real numeric change is at least 0.5. The reference compares bodies
only; the pairs' headers differ only in headers the rules ignore. shadowdiff side:
`compare_responses(baseline, candidate, rule)` on the same pairs, headers included, with the
endpoint's rule resolved once (as the reference's options are built once).

Timing is `time.perf_counter` around each loop only. The DeepDiff loop runs ~120 pairs/s
here (~14 minutes for 100,000 pairs), so by default it runs on the first 10,000 pairs only
(the mix is shuffled, so any prefix is representative) and its time is scaled to the whole
corpus; the output says so (`compare_naive_measured_pairs`, `compare_naive_scaled`).
`--naive-sample 0` runs it on every pair. shadowdiff always runs on every pair; verdicts are
compared on the pairs both sides ran, and shadowdiff's also with the corpus's intended
verdicts (`compare_wrong_verdicts`). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff

from shadowdiff.compare import compare_responses
from shadowdiff.compare.model import DIFFERS, SAME
from shadowdiff.exchange import Response
from shadowdiff.rules import load_rules
from shadowdiff.rules.model import EndpointRule
from shadowdiff.testing import make_response

RULES = """\
defaults:
  headers: {ignore: [X-Request-Id]}
endpoints:
  - match: GET /api/orders/{id}
    ignore: [$.meta.request_id, $.meta.generated_at]
    unordered: [$.tags]
    tolerance: {$.balance: 0.001}
"""
# The same rules, as DeepDiff can be told them
NAIVE_OPTIONS: dict[str, Any] = {
    "exclude_regex_paths": [r"^root\['meta'\]\['(request_id|generated_at)'\]$"],
    "ignore_order_func": lambda level: level.path() == "root['tags']",
    "math_epsilon": 0.001,
}
NAIVE_SAMPLE = 10_000
TAGS = ["gift", "express", "fragile", "b2b", "priority", "eco", "bulk", "insured", "intl"]
ITEMS = 13  # line items per order
STATUSES = ["paid", "shipped", "delivered", "refunded"]
EPOCH = datetime(2026, 11, 21, tzinfo=UTC)
Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pair:
    baseline: Response
    candidate: Response
    kind: str  # how the candidate was made from the baseline
    expected: str  # SAME or DIFFERS


# --- corpus ------------------------------------------------------------------------------------


def order(rng: random.Random, n: int) -> Body:
    """One order as the API answers it: ~2 KB of compact JSON."""
    return {
        "id": n,
        "status": rng.choice(STATUSES),
        "currency": "EUR",
        "customer": {
            "id": rng.randrange(10**6),
            "name": f"Customer {rng.randrange(10**5)}",
            "email": f"c{n}@example.com",
            "address": {
                "street": f"{rng.randrange(1, 300)} Rue de la Paix",
                "city": "Paris",
                "postcode": f"75{rng.randrange(1, 21):03d}",
                "country": "FR",
            },
        },
        "items": [line_item(rng, n, i) for i in range(ITEMS)],
        "shipping": {
            "method": rng.choice(["standard", "express", "pickup"]),
            "carrier": rng.choice(["DHL", "UPS", "La Poste"]),
            "tracking": f"TRK{rng.getrandbits(48):012X}",
            "cost": round(rng.uniform(0, 20), 2),
        },
        "payment": {"method": "card", "last4": f"{rng.randrange(10**4):04d}", "captured": True},
        "tags": rng.sample(TAGS, 5),
        "total": round(rng.uniform(10, 2000), 2),
        "balance": round(rng.uniform(0, 500), 6),
        "notes": "Leave at the door. " * rng.randint(1, 3),
        "meta": meta(rng),
    }


def line_item(rng: random.Random, n: int, i: int) -> Body:
    return {
        "id": n * 10 + i,
        "sku": f"SKU-{rng.randrange(10**6):06d}",
        "name": f"Product {rng.randrange(10**4)} in colour {rng.choice(['red', 'blue'])}",
        "qty": rng.randint(1, 9),
        "price": round(rng.uniform(1, 300), 2),
        "discount": rng.choice([0, 0.05, 0.1]),
    }


def meta(rng: random.Random) -> Body:
    stamp = EPOCH + timedelta(seconds=rng.randrange(10**7), microseconds=rng.randrange(10**6))
    return {
        "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "generated_at": stamp.isoformat().replace("+00:00", "Z"),
        "api_version": "2.14.0",
    }


def noise(rng: random.Random, body: Body) -> None:
    """What rules must cancel on every call: a fresh request id and timestamp."""
    body["meta"] = {**meta(rng), "api_version": body["meta"]["api_version"]}


def reorder_tags(rng: random.Random, body: Body) -> None:
    tags = list(body["tags"])
    while tags == body["tags"]:
        rng.shuffle(tags)
    body["tags"] = tags


def jitter_balance(rng: random.Random, body: Body) -> None:
    body["balance"] = body["balance"] + rng.choice([-1, 1]) * rng.uniform(1e-5, 4e-4)


def change_value(rng: random.Random, body: Body) -> None:
    if rng.random() < 0.5:
        body["status"] = next(s for s in STATUSES if s != body["status"])
    else:
        body["items"][rng.randrange(ITEMS)]["price"] += rng.choice([0.5, 1, 10])


def drop_key(rng: random.Random, body: Body) -> None:
    del body["customer"][rng.choice(["email", "name", "address"])]


def change_type(rng: random.Random, body: Body) -> None:
    item = body["items"][rng.randrange(ITEMS)]
    item["qty"] = str(item["qty"])


def change_length(rng: random.Random, body: Body) -> None:
    if rng.random() < 0.5:
        body["items"].pop(rng.randrange(ITEMS))
    else:
        body["items"].append(line_item(rng, body["id"] + 1, 0))


Edit = Callable[[random.Random, Body], None]
# (share of the corpus, kind, edits made to the candidate, expected verdict)
MIX: list[tuple[float, str, list[Edit], str]] = [
    (0.30, "byte_identical", [], SAME),
    (0.40, "ignored_fields", [noise], SAME),
    (0.15, "unordered_tags", [noise, reorder_tags], SAME),
    (0.10, "balance_jitter", [noise, jitter_balance], SAME),
    (0.02, "value_changed", [noise, change_value], DIFFERS),
    (0.01, "missing", [noise, drop_key], DIFFERS),
    (0.01, "type_changed", [noise, change_type], DIFFERS),
    (0.01, "length_changed", [noise, change_length], DIFFERS),
]


def response(body: Body, rng: random.Random) -> Response:
    headers = [("Date", (EPOCH + timedelta(seconds=rng.randrange(10**7))).ctime())]
    return make_response(
        json=body, headers=[*headers, ("X-Request-Id", body["meta"]["request_id"])]
    )


def build_corpus(pairs: int, seed: int = 5) -> list[Pair]:
    rng = random.Random(seed)
    plan = [entry for entry in MIX for _ in range(round(entry[0] * pairs))][:pairs]
    plan += [MIX[0]] * (pairs - len(plan))
    rng.shuffle(plan)
    corpus = []
    for n, (_, kind, edits, expected) in enumerate(plan):
        baseline = order(rng, n)
        candidate = copy.deepcopy(baseline)
        for edit in edits:
            edit(rng, candidate)
        corpus.append(Pair(response(baseline, rng), response(candidate, rng), kind, expected))
    return corpus


# --- the two loops -----------------------------------------------------------------------------


def naive_verdicts(corpus: list[Pair]) -> list[str]:
    """The hand-written loop: parse both bodies, DeepDiff them with the rules' equivalents."""
    verdicts = []
    for pair in corpus:
        a, b = json.loads(pair.baseline.body), json.loads(pair.candidate.body)
        verdicts.append(DIFFERS if DeepDiff(a, b, **NAIVE_OPTIONS) else SAME)
    return verdicts


def shadowdiff_verdicts(corpus: list[Pair], rule: EndpointRule) -> list[str]:
    return [compare_responses(p.baseline, p.candidate, rule).verdict for p in corpus]


def timed(work: Callable[[], list[str]]) -> tuple[list[str], float]:
    start = time.perf_counter()
    verdicts = work()
    return verdicts, time.perf_counter() - start


def load_rule() -> EndpointRule:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "orders.yaml").write_text(RULES, encoding="utf-8")
        return load_rules(Path(tmp)).resolve("GET", "/api/orders/1")


# --- figures -----------------------------------------------------------------------------------


def run(pairs: int, naive_sample: int = NAIVE_SAMPLE) -> dict[str, Any]:
    """`naive_sample`: pairs the DeepDiff loop runs on (0: all), its time scaled to `pairs`."""
    corpus = build_corpus(pairs)
    rule = load_rule()
    measured = min(naive_sample or pairs, pairs)
    ours, ours_s = timed(lambda: shadowdiff_verdicts(corpus, rule))
    naive, naive_measured_s = timed(lambda: naive_verdicts(corpus[:measured]))
    naive_s = naive_measured_s * pairs / measured
    return {
        "compare_pairs": pairs,
        "compare_body_bytes_mean": round(sum(len(p.baseline.body) for p in corpus) / pairs),
        "compare_mix": dict(Counter(p.kind for p in corpus)),
        "compare_shadowdiff_s": round(ours_s, 2),
        "compare_shadowdiff_pairs_per_s": round(pairs / ours_s),
        "compare_naive_s": round(naive_s, 2),
        "compare_naive_pairs_per_s": round(pairs / naive_s),
        "compare_naive_measured_pairs": measured,
        "compare_naive_scaled": measured < pairs,
        "compare_speedup": round(naive_s / ours_s, 1),
        "compare_verdict_disagreements": disagreements(corpus[:measured], naive, ours),
        "compare_wrong_verdicts": sum(v != p.expected for v, p in zip(ours, corpus, strict=True)),
    }


def disagreements(corpus: list[Pair], naive: list[str], ours: list[str]) -> int:
    """Pairs whose two verdicts differ (`ours` may be longer: it ran on every pair)."""
    return sum(a != b for a, b, _ in zip(naive, ours, corpus, strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=NAIVE_SAMPLE,
        help="run the DeepDiff loop on the first N pairs only and scale its time (0: all)",
    )
    args = parser.parse_args()
    print(json.dumps(run(args.pairs, args.naive_sample)))


if __name__ == "__main__":
    main()
