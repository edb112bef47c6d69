"""Benchmark: `shadowdiff recompare` of a stored run, under rules, without replaying.

    python -m tests.benchmarks.bench_recompare [--exchanges 10000]

Builds a store with one run of `--exchanges` results (bench_report's: 1 KB JSON bodies, 12
endpoints, ~30% differing) through the product's writer, then times `shadowdiff recompare`
the way a user runs it (a subprocess, wall clock, start-up included) with rules that ignore a
field. The reference, in the same run: the same stored exchanges parsed and compared in a
plain in-process loop (no store, no start-up): what comparing alone costs. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shadowdiff.rules import load_rules
from shadowdiff.store import open_store
from shadowdiff.store.query import find_run
from tests.benchmarks.bench_store import RUN, build

RULES = "defaults:\n  ignore: [$.price]\n"  # the rule change checked: a field ignored


def recompare(store: Path, rules: Path) -> float:
    command = [sys.executable, "-m", "shadowdiff", "recompare", "--db", str(store)]
    command += ["--run", RUN, "--rules", str(rules), "--as", "again"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def compare_loop(store: Path, rules: Path) -> float:
    from shadowdiff.recompare import recompared

    db = open_store(store, create=False)
    ruleset = load_rules(rules)
    started = time.perf_counter()
    for _ in recompared(db, find_run(db, RUN).id, ruleset):
        pass
    return time.perf_counter() - started


def run(exchanges: int, directory: Path) -> dict[str, Any]:
    store, _ = build(directory, exchanges)
    rules = directory / "rules"
    rules.mkdir()
    (rules / "items.yaml").write_text(RULES)
    reference = compare_loop(store, rules)
    seconds = recompare(store, rules)
    return {
        "recompare_exchanges": exchanges,
        "recompare_s": round(seconds, 2),
        "recompare_exchanges_per_s": round(exchanges / seconds),
        "recompare_reference_compare_loop_s": round(reference, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.exchanges, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
