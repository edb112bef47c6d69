"""Benchmark: render the HTML report of a 100,000-exchange run.

    python -m tests.benchmarks.bench_report [--exchanges 100000] [--keep DIR]

Builds a store the way a replay does (RunWriter, batched), with 1 KB JSON bodies, 12
endpoints, ~30% differing exchanges (1-3 differences each, over ~40 distinct fields), 1%
errors and 0.5% assertion failures; then times `shadowdiff report` on it (in-process, the
same function the CLI calls) and reports the file size. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from shadowdiff.compare.model import (
    DIFFERS,
    ERROR,
    FAILED,
    SAME,
    AssertionResult,
    Comparison,
    Difference,
)
from shadowdiff.gate import GatePolicy
from shadowdiff.report.files import write_report
from shadowdiff.rules.model import Assertion
from shadowdiff.store import ExchangeResult, RunWriter, open_store
from shadowdiff.testing import make_exchange, make_request, make_response

ENDPOINTS = [f"GET /api/resource{i}/{{id}}" for i in range(12)]
FIELDS = ["$.price", "$.items[*].qty", "$.owner.name", "$.tags", "$.status", "$.meta.version"]


def body(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": n,
        "status": rng.choice(["open", "closed"]),
        "price": round(rng.uniform(1, 500), 2),
        "owner": {"name": f"user{n % 977}", "email": f"u{n}@example.com"},
        "items": [{"sku": f"SKU-{n}-{i}", "qty": i + 1, "note": "x" * 40} for i in range(8)],
        "tags": ["a", "b", "c"],
        "meta": {"version": "1.2.3", "region": "eu-west-1"},
    }


def result(rng: random.Random, n: int) -> ExchangeResult:
    endpoint = ENDPOINTS[n % len(ENDPOINTS)]
    data = body(rng, n)
    request = make_request(target=endpoint.split(" ")[1].replace("{id}", str(n)))
    baseline = make_response(json=data)
    roll = rng.random()
    if roll < 0.01:
        return ExchangeResult(
            make_exchange(request, baseline),
            endpoint,
            Comparison(ERROR, error="timeout: no answer within 10s"),
            baseline,
            None,
            None,
            1.0,
        )
    differences: tuple[Difference, ...] = ()
    verdict, assertions = SAME, ()
    if roll < 0.31:
        picks = rng.sample(FIELDS, rng.randint(1, 3))
        differences = tuple(
            Difference(p.replace("[*]", f"[{rng.randint(0, 7)}]"), "value_changed", 1, 2)
            for p in picks
        )
        verdict = DIFFERS
    elif roll < 0.315:
        rule = Assertion("exists", True, "$.owner.email", "rules/resources.yaml:9")
        assertions = (AssertionResult(rule, False, "missing"),)
        verdict = FAILED
    candidate = make_response(json={**data, "price": data["price"] + (1 if differences else 0)})
    comparison = Comparison(verdict, differences, assertions)
    return ExchangeResult(
        make_exchange(request, baseline),
        endpoint,
        comparison,
        baseline,
        candidate,
        rng.uniform(1, 30),
        rng.uniform(1, 30),
    )


def build_store(path: Path, exchanges: int) -> float:
    rng = random.Random(7)
    db = open_store(path)
    start = time.perf_counter()
    writer = RunWriter(db, "bench", {"target": "http://staging", "source": "[]"})
    for n in range(exchanges):
        writer.add(result(rng, n))
    writer.finish("finished", {})
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def run(exchanges: int, directory: Path) -> dict[str, Any]:
    store = directory / "bench.db"
    write_s = build_store(store, exchanges)
    db = open_store(store, create=False)
    start = time.perf_counter()
    out = write_report(db, "bench", GatePolicy(), directory / "report.html")
    render_s = time.perf_counter() - start
    db.close()
    return {
        "report_exchanges": exchanges,
        "report_render_s": round(render_s, 2),
        "report_size_bytes": out.stat().st_size,
        "report_store_bytes": store.stat().st_size,
        "store_build_exchanges_per_s": round(exchanges / write_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the store and report here")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run(args.exchanges, args.keep)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.exchanges, Path(tmp))))


if __name__ == "__main__":
    main()
