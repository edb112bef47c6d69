import pytest

from shadowdiff.replay import progress
from shadowdiff.replay.progress import ReplayProgress


def test_plain_lines_with_live_counts_when_not_a_tty(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    with ReplayProgress() as bar:
        for verdict in ("same", "same", "differs", "error"):
            bar.record(verdict)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "4 exchanges: same 2, differs 1, failed 0, error 1, skipped 0"
    assert len(lines) == 4


def test_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with ReplayProgress(enabled=False) as bar:
        bar.record("same")
    assert capsys.readouterr().err == ""
    assert bar.counts["same"] == 1
