"""Write reports to files: the one place the report package touches the disk."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database

from shadowdiff.errors import InputError
from shadowdiff.gate import GatePolicy, GateResult
from shadowdiff.report.ci import junit_xml, markdown_summary
from shadowdiff.report.context import build_report, example_lines
from shadowdiff.report.render import render
from shadowdiff.report.trend import build_trend


def safe_name(name: str) -> str:
    """A run name as a file name: no path separators, no leading dots."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "run"


def write_text(path: Path, text: str | bytes, flag: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="replace")  # lone surrogates
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
    return path


def write_report(db: Database, run_name: str | None, policy: GatePolicy, path: Path | None) -> Path:
    context = build_report(db, run_name, policy)
    target = path or Path("reports") / f"{safe_name(context.run.name)}.html"
    return write_text(target, render("report.html.j2", context), "-o")


def write_trend(
    db: Database, last: int, since: timedelta | None, path: Path | None, name: str | None = None
) -> Path:
    context = build_trend(db, last, since, name)
    target = path or Path("reports") / "trend.html"
    return write_text(target, render("trend.html.j2", context), "-o")


def write_ci_outputs(
    db: Database, result: GateResult, junit: Path | None, markdown: Path | None
) -> None:
    if junit is None and markdown is None:
        return
    examples = example_lines(db, result.run, result)
    if junit is not None:
        write_text(junit, junit_xml(result, examples), "--junit")
    if markdown is not None:
        write_text(markdown, markdown_summary(result, examples), "--markdown")
