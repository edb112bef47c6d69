"""GoReplay's `--output-file`: path templates, chunk rotation, append mode, gzip, a total cap.

Placeholders (research/goreplay.md §2), rendered at write time:
`%Y %m %d %H %M %S` date parts of the clock, `%NS` the nanosecond within the second,
`%r` the record id (one file per id), `%t` the record type, `%i` a random 8-letter id per writer.

Without append, `_N` goes before the last extension (`requests.gor` -> `requests_0.gor`,
`x.gor.gz` -> `x.gor_0.gz`, `name` -> `name_0`). A new chunk takes the highest `_N` on disk
for that rendered name + 1 (so a restart continues at last+1). A chunk is full when it holds
`queue_limit` records (0 = no count limit) or its size on disk reaches `size_limit` (0 = no
size limit; for .gz, the compressed bytes written so far). With append: one file per rendered
name, no `_N`, no rotation; a .gz file gets one more gzip member per writer (valid gzip).

Where this differs from GoReplay, on purpose:
- a new chunk is opened with O_EXCL and never truncates an existing file (GoReplay reopens the
  last index with O_TRUNC when the rendered name changes back, losing that file's data);
- several rendered names stay open at once (up to MAX_OPEN), so with `%r`/`%t` a request and
  its response land in the same file even when other ids come between them; a date rollover
  closes them all, so the previous hour's file is complete as soon as the next hour begins;
- a rendered name ending in `_<digits>` keeps its digits (`%Y_%m_%d`), `%r` is reduced to
  `[A-Za-z0-9_-]` (an id from the network never leaves the directory), and missing parent
  directories are created (`logs/%Y-%m-%d/requests.gor`).
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import re
import string
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.gorfile import GorRecord

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"%(NS|Y|m|d|H|M|S|r|t|i)")
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_OPEN = 32
SIZE = re.compile(r"(\d+)\s*([kmgt]?b?)")
SIZE_UNITS = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40}


class OutputLimitReached(EnvironmentProblem):
    """The file output wrote `--output-file-max-size-limit` bytes in total (exit 3)."""


def parse_size(value: str, flag: str = "size") -> int:
    """`1024`, `500kb`, `32mb`, `1TB`, `2g` -> bytes (binary units, as GoReplay's size flags)."""
    match = SIZE.fullmatch(value.strip().lower())
    if match is None:
        raise InputError(f"{flag} {value!r}: expected a size such as 1024, 500kb, 32mb or 1tb")
    return int(match[1]) << SIZE_UNITS[match[2].removesuffix("b")]


def render_time(template: str, now: datetime, instance_id: str) -> str:
    """The template with its date parts and `%i` filled in; `%r` and `%t` are left."""

    def fill(match: re.Match[str]) -> str:
        key = match[1]
        if key in ("r", "t"):
            return match[0]
        if key == "i":
            return instance_id
        if key == "NS":
            return str(now.microsecond * 1000)
        return now.strftime("%" + key)

    return PLACEHOLDER.sub(fill, template)


def render_record(name: str, record: GorRecord) -> str:
    """Fill in `%r` (the id, reduced to safe characters) and `%t` (the type)."""
    safe_id = UNSAFE_IN_NAME.sub("_", record.id) or "_"
    return name.replace("%r", safe_id).replace("%t", str(record.type))


def chunk_path(name: str, index: int) -> Path:
    """`_N` before the last extension of a rendered name."""
    stem, ext = os.path.splitext(name)
    return Path(f"{stem}_{index}{ext}")


def next_index(name: str) -> int:
    """The highest `_N` of the chunks of `name` on disk, plus one (0 when there are none)."""
    stem, ext = os.path.splitext(name)
    folder, base = os.path.split(stem)
    pattern = re.compile(re.escape(base) + r"_(\d+)" + re.escape(ext))
    try:
        entries = os.listdir(folder or ".")
    except (FileNotFoundError, NotADirectoryError):
        return 0
    found = [int(match[1]) for entry in entries if (match := pattern.fullmatch(entry))]
    return max(found, default=-1) + 1


class _Chunk:
    """One open file: plain, or a complete gzip stream once closed."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path = path
        self.raw: BinaryIO = open(path, "ab" if append else "xb")  # noqa: SIM115 (closed in close)
        self.stream: BinaryIO = self.raw
        if path.name.endswith(".gz"):
            self.stream = gzip.GzipFile(fileobj=self.raw, mode="wb")  # type: ignore[assignment]
        self.count = 0
        self.is_dirty = False  # written since the last flush

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.count += 1
        self.is_dirty = True

    def size(self) -> int:
        return self.raw.tell()

    def flush(self) -> None:
        if self.is_dirty:  # gzip: a sync flush costs bytes, so only when something changed
            self.stream.flush()  # gzip: what is on disk decompresses up to here
            self.is_dirty = False

    def close(self) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
        finally:
            self.raw.close()


class RotatingGorWriter(AbstractContextManager["RotatingGorWriter"]):
    """Write records to files named by a GoReplay `--output-file` template (see module doc).

    Thread-safe; a background thread flushes every `flush_interval` seconds, so a crash loses
    at most about that much. `write` raises OutputLimitReached once `max_size` bytes (records
    as framed, before compression) have been written; the record that reached it is kept.
    """

    def __init__(
        self,
        template: str,
        size_limit: int = 32 * 1024 * 1024,
        queue_limit: int = 256,
        append: bool = False,
        max_size: int | None = None,
        clock: Callable[[], datetime] = datetime.now,
        flush_interval: float = 1.0,
    ) -> None:
        self.template, self.size_limit, self.queue_limit = template, size_limit, queue_limit
        self.append, self.max_size, self._clock = append, max_size, clock
        self.instance_id = "".join(random.choices(string.ascii_letters, k=8))
        self.paths_written: list[Path] = []
        self.total_bytes = 0
        self._seen: set[Path] = set()
        self._open: OrderedDict[str, _Chunk] = OrderedDict()
        self._time_key: str | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=_flush_periodically,
            args=(weakref.ref(self), self._stop, max(flush_interval, 0.01)),
            name="gor-file-flush",
            daemon=True,
        )
        self._flusher.start()

    def write(self, record: GorRecord) -> None:
        data = record.to_bytes()
        with self._lock:
            self._check_writable()
            self._chunk_for(record).write(data)
            self.total_bytes += len(data)
        self._check_writable()

    def flush(self) -> None:
        with self._lock:
            for chunk in self._open.values():
                chunk.flush()

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not threading.current_thread():
            self._flusher.join()
        with self._lock:
            self._closed = True
            self._close_all()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_writable(self) -> None:
        if self._closed:
            raise ValueError(f"{self.template}: write to a closed writer")
        if self.max_size is not None and self.total_bytes >= self.max_size:
            raise OutputLimitReached(
                f"{self.template}: the file output wrote {self.total_bytes} bytes, "
                f"--output-file-max-size-limit is {self.max_size}"
            )

    def _chunk_for(self, record: GorRecord) -> _Chunk:
        time_key = render_time(self.template, self._clock(), self.instance_id)
        if time_key != self._time_key:
            self._close_all()  # a new hour (or second, ...): the old files are complete
            self._time_key = time_key
        name = render_record(time_key, record)
        chunk = self._open.get(name)
        if chunk is not None and self._is_full(chunk):
            self._open.pop(name).close()
            chunk = None
        if chunk is None:
            chunk = self._open[name] = self._open_chunk(name)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(name)
        return chunk

    def _is_full(self, chunk: _Chunk) -> bool:
        if self.append:
            return False
        by_count = self.queue_limit > 0 and chunk.count >= self.queue_limit
        return by_count or (self.size_limit > 0 and chunk.size() >= self.size_limit)

    def _open_chunk(self, name: str) -> _Chunk:
        _make_parent(Path(name))
        try:
            chunk = _Chunk(Path(name), append=True) if self.append else _create_chunk(name)
        except OSError as exc:
            where = exc.filename or name
            raise InputError(f"--output-file {where}: cannot open: {exc.strerror or exc}") from None
        if chunk.path not in self._seen:
            self._seen.add(chunk.path)
            self.paths_written.append(chunk.path)
        return chunk

    def _close_all(self) -> None:
        while self._open:
            self._open.popitem(last=False)[1].close()


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(
            f"--output-file {path.parent}: cannot create the directory: {reason}"
        ) from None


def _create_chunk(name: str) -> _Chunk:
    """A new chunk at the next free index (exclusive create: never someone else's file)."""
    index = next_index(name)
    while True:
        try:
            return _Chunk(chunk_path(name, index), append=False)
        except FileExistsError:  # another writer took this index meanwhile
            index += 1


def _flush_periodically(
    ref: weakref.ref[RotatingGorWriter], stop: threading.Event, interval: float
) -> None:
    """Flush until the writer is closed or gone (a weak reference: the thread keeps no writer
    alive)."""
    while not stop.wait(interval):
        writer = ref()
        if writer is None:
            return
        try:
            writer.flush()
        except (OSError, ValueError) as exc:
            log.warning("%s: periodic flush failed: %s", writer.template, exc)
        del writer
