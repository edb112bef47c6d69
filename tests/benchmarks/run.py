"""Run every benchmark and print one JSON object of named figures and ratios.

    python -m tests.benchmarks.run [--quick]

Benchmarks are not part of the test suite (pytest collects test_*.py only); each module here
is also runnable alone with its own options. Each one that needs nginx, wrk or tshark says
so in its figure when the tool is missing (Debian: apt-get install nginx wrk tshark).
`--quick` runs smaller sizes (a smoke run; the README's figures come from the full run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from tests.benchmarks import bench_report

FULL = {
    "bench_replay": ["--exchanges", "50000", "--memory-gb", "1"],
    "bench_compare": ["--pairs", "100000"],
    "bench_store": ["--exchanges", "1000000"],
    "bench_capture": ["--rates", "2000,5000", "--seconds", "60", "--engines", "dumpcap"],
    "bench_recompare": ["--exchanges", "10000"],
}
QUICK = {
    "bench_replay": ["--exchanges", "5000"],
    "bench_compare": ["--pairs", "5000"],
    "bench_store": ["--exchanges", "20000"],
    "bench_capture": ["--rates", "1000", "--seconds", "5", "--engines", "dumpcap"],
    "bench_recompare": ["--exchanges", "2000"],
}
NEEDS = {"bench_replay": ["nginx"], "bench_capture": ["nginx", "dumpcap"]}


def child(module: str, args: list[str]) -> Any:
    """One benchmark in its own process (its figures are not disturbed by another's state)."""
    missing = [tool for tool in NEEDS.get(module, []) if shutil.which(tool) is None]
    if missing:
        return f"not run: needs {', '.join(missing)} (apt-get install {' '.join(missing)})"
    done = subprocess.run(
        [sys.executable, "-m", f"tests.benchmarks.{module}", *args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    figures: dict[str, object] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        figures["report"] = bench_report.run(10_000 if args.quick else 100_000, Path(tmp))
    for module, module_args in sizes.items():
        figures[module.removeprefix("bench_")] = child(module, module_args)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
