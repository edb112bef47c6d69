"""The benchmarks still run (tiny sizes): a benchmark that rots is found here, not in the
README's next refresh."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks import bench_recompare


def test_bench_recompare_runs(tmp_path: Path) -> None:
    figures = bench_recompare.run(200, tmp_path)
    assert figures["recompare_exchanges"] == 200
    assert figures["recompare_s"] > 0 and figures["recompare_reference_compare_loop_s"] > 0
