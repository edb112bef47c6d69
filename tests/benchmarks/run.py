"""Run every benchmark and print one JSON object of named figures.

    python -m tests.benchmarks.run

Benchmarks are not part of the test suite (pytest collects test_*.py only); each module here
is also runnable alone with its own options.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from tests.benchmarks import bench_report


def main() -> None:
    figures: dict[str, object] = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(bench_report.run(100_000, Path(tmp)))
    if shutil.which("nginx") and shutil.which("tshark"):
        capture = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.bench_capture"],
            capture_output=True,
            text=True,
            check=True,
        )
        figures["capture"] = json.loads(capture.stdout)
    else:
        figures["capture"] = "not run: needs nginx and tshark (apt-get install nginx tshark)"
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
