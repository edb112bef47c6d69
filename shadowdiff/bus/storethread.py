"""The one thread a pool worker's SQLite work runs in.

A sqlite3 connection belongs to the thread that opened it, and a commit may wait out
another writer's lock (the store's busy timeout is 30 s): done in the event loop, it would
stop the replays, the reads and the acknowledgements meanwhile. So the worker opens the
store, joins, commits and leaves the run in this thread, one call after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="shadowdiff-store")

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in the store thread and wait for it (outside the event loop)."""
        return self._pool.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in the store thread; the event loop goes on meanwhile."""
        return await asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
