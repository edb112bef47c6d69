"""Live counts while replaying: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shadowdiff.compare.model import VERDICTS

PLAIN_EVERY = 5.0


class ReplayProgress:
    """Counts verdicts; shows them on stderr."""

    def __init__(self, enabled: bool = True, total: int | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self.extra: Callable[[], str] | None = None  # more live counts (tee: captured, shed)
        self._console = Console(stderr=True)
        self._live = enabled and sys.stderr.isatty()
        self._plain = enabled and not self._live
        self._last = time.monotonic()
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._bar.add_task("replaying", total=total)

    def summary(self) -> str:
        parts = [f"{verdict} {self.counts[verdict]}" for verdict in VERDICTS]
        text = f"{self.counts.total()} exchanges: " + ", ".join(parts)
        return f"{text} | {self.extra()}" if self.extra is not None else text

    def record(self, verdict: str) -> None:
        self.counts[verdict] += 1
        if self._live:
            self._bar.update(self._task, advance=1, description=self.summary())
        elif self._plain and time.monotonic() - self._last >= PLAIN_EVERY:
            self._last = time.monotonic()
            print(self.summary(), file=sys.stderr, flush=True)

    def __enter__(self) -> ReplayProgress:
        if self._live:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live:
            self._bar.stop()
