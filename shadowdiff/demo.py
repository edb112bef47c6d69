"""`shadowdiff demo`: the whole flow on the bundled sample services, with no setup.

Starts the baseline and candidate builds of the sample service on free local ports, replays
the bundled recording against each with the bundled rules (the baseline run shows the rules
cancel all noise; the candidate run shows the deliberate regressions), prints the gate of the
candidate run and exits 0: finding the regressions is the demo succeeding.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from shadowdiff.gate import GatePolicy
from shadowdiff.replay.plan import parse_target
from shadowdiff.replay.runner import ReplaySettings
from shadowdiff.replay.session import SessionOutcome, run_replay
from shadowdiff.report.files import write_report
from shadowdiff.rules import RuleSet, load_rules
from shadowdiff.samples import sample_rules_dir, sample_traffic_dir
from shadowdiff.samples.service import SampleService
from shadowdiff.store import open_store
from shadowdiff.summary import format_gate, summarize_run


def run_demo(db: Path) -> None:
    rules = load_rules(sample_rules_dir())
    traffic = sorted(sample_traffic_dir().glob("*.gor"))
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    click.echo(
        f"shadowdiff demo: replaying {', '.join(p.name for p in traffic)} "
        f"with the rules in {sample_rules_dir()}"
    )
    with SampleService("baseline") as baseline, SampleService("candidate") as candidate:
        same = _replay(traffic, baseline.url, rules, db, f"demo-baseline-{stamp}")
        click.echo(
            f"\n1. against the baseline build ({baseline.url}): {_counts(same)}\n"
            "   the rules cancel every bit of noise (ids, timestamps, order, jitter)"
        )
        found = _replay(traffic, candidate.url, rules, db, f"demo-candidate-{stamp}")
        click.echo(f"\n2. against the candidate build ({candidate.url}): {_counts(found)}\n")
    store = open_store(db, create=False)
    result = summarize_run(store, found.run, GatePolicy())
    click.echo(format_gate(result))
    report = write_report(store, found.run, GatePolicy(), None)
    click.echo(f"\nHTML report: {report.resolve()}")
    click.echo(
        f"\nThe gate found the candidate's deliberate regressions (exit code "
        f"{0 if result.passed else 1} in CI). Explore the store ({db}):\n"
        f"  shadowdiff gate --db {db} --run {found.run} --json\n"
        f"  sqlite3 {db} 'SELECT endpoint, path, kind, baseline, candidate "
        f"FROM differences LIMIT 10'"
    )


def _replay(traffic: list[Path], url: str, rules: RuleSet, db: Path, name: str) -> SessionOutcome:
    settings = ReplaySettings(parse_target(url), concurrency=8, timeout=5.0)
    return run_replay(traffic, settings, rules, db, name, show_progress=False)


def _counts(outcome: SessionOutcome) -> str:
    total = sum(outcome.counts.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
    return f"{total} exchanges ({parts}), run {outcome.run}"
