"""Host a GoReplay middleware: a child process that sees every message and decides what goes on.

    async with Middleware("python3 mw.py") as middleware:
        async for exchange in through_middleware(middleware, exchanges, stats):
            ...

The command is split on single spaces and run without a shell, stderr inherited, exactly as
GoReplay does; the wire format and the pairing of echoes are in `gorproto`, the stage that
puts exchanges through it in `middleware_stage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

from shadowdiff.errors import EnvironmentProblem
from shadowdiff.gorfile import GorRecord
from shadowdiff.traffic.gorproto import (
    ReplayLedger,
    decode_line,
    encode_line,
)

logger = logging.getLogger(__name__)

LINE_LIMIT = 2 * (64 << 20) + (64 << 10)  # a 64 MiB payload, hex-encoded, plus its meta line
_Wait = Callable[[], Awaitable[None]]


class MiddlewareError(EnvironmentProblem):
    """The middleware process failed: it could not start, stalled, or exited badly."""


class Middleware:
    """One middleware child process: records in on its stdin, echoed records out."""

    def __init__(
        self, command: str, stall_timeout: float = 10.0, finish_timeout: float = 60.0
    ) -> None:
        self.command = command
        self.stall_timeout = stall_timeout
        self.finish_timeout = finish_timeout  # how long it may stay silent once input ended
        self.replays = ReplayLedger()
        self.sent_messages = self.echoed_messages = self.malformed = self.replays_too_late = 0
        self._process: asyncio.subprocess.Process | None = None
        self._input_closed = False
        self._failure: MiddlewareError | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Middleware:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def is_started(self) -> bool:
        return self._process is not None

    @property
    def is_input_closed(self) -> bool:
        return self._input_closed

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        program, *args = self.command.split(" ")  # Go's strings.Split: no quoting, no shell
        try:
            self._process = await asyncio.create_subprocess_exec(
                program, *args, stdin=PIPE, stdout=PIPE, limit=LINE_LIMIT
            )
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise self._error(f"cannot start: {reason}") from None

    async def send(self, record: GorRecord) -> None:
        """Write one message; raises MiddlewareError if the child died or did not accept
        input for `stall_timeout` seconds (then it is killed)."""
        stdin = self._stdin()
        if self._failure is not None:
            raise self._failure
        if self._input_closed:
            raise RuntimeError("send() after close_input()")
        stdin.write(encode_line(record))
        self.sent_messages += 1
        try:
            await self._while_taking(stdin, stdin.drain)
        except ConnectionError:
            raise await self._input_lost() from None

    async def close_input(self) -> None:
        """End of input for the child (EOF on its stdin), once what was written is taken."""
        stdin = self._stdin()
        if self._input_closed:
            return
        self._input_closed = True
        self._watchdog = asyncio.create_task(self._exit_within(self.finish_timeout))
        stdin.close()
        with contextlib.suppress(ConnectionError):  # it is gone; its exit status tells why
            await self._while_taking(stdin, stdin.wait_closed)

    async def echoed(
        self, on_malformed: Callable[[str], None] | None = None
    ) -> AsyncIterator[GorRecord]:
        """The records it writes, until its stdout closes; then raises MiddlewareError if it
        exited non-zero, or closed its output before its input ended."""
        stdout = self._process.stdout if self._process is not None else None
        assert stdout is not None, "start() first"
        while True:
            try:
                if not (line := await _read_line(stdout)):
                    break
                record = decode_line(line)
            except ValueError as exc:  # _LineTooLong too
                self._count_malformed(str(exc), on_malformed)
                continue
            self.echoed_messages += 1
            yield record
        await self._output_ended()

    async def stop(self) -> int | None:
        """Close its input, give it `stall_timeout` seconds to exit, then kill it."""
        if self._process is None:
            return None
        with contextlib.suppress(MiddlewareError):  # a stall: it is killed, and says so
            await self.close_input()
        await self._wait_exit(self.stall_timeout)
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
        return self._process.returncode

    def _stdin(self) -> asyncio.StreamWriter:
        stdin = self._process.stdin if self._process is not None else None
        assert stdin is not None, "start() first"
        return stdin

    async def _output_ended(self) -> None:
        was_open = not self._input_closed
        late = f"closed its output but did not exit within {self.stall_timeout:g}s (killed)"
        status = await self._wait_exit(self.stall_timeout, late)
        with contextlib.suppress(MiddlewareError):
            await self.close_input()
        if self._failure is not None:
            raise self._failure
        if status != 0:
            raise self._fail(self._exit_reason(status))
        if was_open:
            raise self._fail(f"closed its output after {self._counts()}, before its input ended")

    async def _input_lost(self) -> MiddlewareError:
        early = f"after {self._counts()}, before its input ended"
        status = await self._wait_exit(self.stall_timeout, f"closed its input {early}")
        reason = self._exit_reason(status) if status else f"exited with status 0 {early}"
        return self._failure or self._fail(reason)

    async def _wait_exit(self, timeout: float, failure: str | None = None) -> int:
        """Its exit status; after `timeout` seconds it is killed (the failure said first, so
        that whoever sees the kill reports the cause)."""
        assert self._process is not None
        try:
            return await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            if failure is not None:
                self._fail(failure)
            self._kill()
            return await self._process.wait()

    async def _exit_within(self, timeout: float) -> None:
        await self._wait_exit(timeout, f"still running {timeout:g}s after its input ended (killed)")

    async def _while_taking(self, stdin: asyncio.StreamWriter, wait: _Wait) -> None:
        """Wait while the child takes what was written; if it takes nothing for
        `stall_timeout` seconds, it has stopped reading: kill it."""
        left = stdin.transport.get_write_buffer_size()
        while True:
            try:
                return await asyncio.wait_for(wait(), self.stall_timeout)
            except TimeoutError:
                if stdin.transport.get_write_buffer_size() >= left:
                    failure = self._fail(
                        f"stopped reading its input for {self.stall_timeout:g}s (killed)"
                    )
                    self._kill()
                    raise failure from None
                left = stdin.transport.get_write_buffer_size()

    def _kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    def _count_malformed(self, reason: str, on_malformed: Callable[[str], None] | None) -> None:
        self.malformed += 1
        log = logger.warning if self.malformed == 1 else logger.debug
        log("--middleware %r: skipped a line that is not a message: %s", self.command, reason)
        if on_malformed is not None:
            on_malformed(reason)

    def _exit_reason(self, status: int) -> str:
        if status < 0:
            return f"was killed by {signal.Signals(-status).name} after {self._counts()}"
        return f"exited with status {status} after {self._counts()}"

    def _counts(self) -> str:
        return f"{self.sent_messages} messages ({self.echoed_messages} echoed)"

    def _fail(self, what: str) -> MiddlewareError:
        if self._failure is None:
            self._failure = self._error(what)
        return self._failure

    def _error(self, what: str) -> MiddlewareError:
        return MiddlewareError(f"--middleware {self.command!r}: {what}")


class _LineTooLong(ValueError):
    """A line past LINE_LIMIT: skipped up to its newline, counted as malformed."""


async def _read_line(stdout: asyncio.StreamReader) -> bytes:
    """The next line, b"" at the end."""
    try:
        return await stdout.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # a last line without a newline still counts
    except asyncio.LimitOverrunError as exc:
        await stdout.readexactly(exc.consumed)
        await _skip_line(stdout)
        raise _LineTooLong(f"line longer than {LINE_LIMIT} bytes") from None


async def _skip_line(stdout: asyncio.StreamReader) -> None:
    while True:
        try:
            await stdout.readuntil(b"\n")
            return
        except asyncio.IncompleteReadError:
            return
        except asyncio.LimitOverrunError as exc:
            await stdout.readexactly(exc.consumed)
