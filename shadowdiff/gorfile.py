"""GoReplay's .gor framing, byte for byte (DESIGN.md, research/goreplay.md §2).

    <type> <id> <timestamp_ns> <latency_ns>\\n<raw HTTP bytes>\\n🐵🙈🙉\\n

Reading streams in blocks (a 1 GB file is never held in memory). A record whose meta line is
not `type id timestamp [latency ...]`, or trailing bytes with no separator, are reported as a
GorProblem with the byte offset where the record starts, and skipped.
"""

from __future__ import annotations

import gzip
import heapq
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from shadowdiff.errors import InputError

SEPARATOR = "\n🐵🙈🙉\n".encode()
BLOCK = 1 << 20
REQUEST, RESPONSE, REPLAYED = 1, 2, 3


@dataclass(frozen=True, slots=True)
class GorRecord:
    type: int
    id: str
    timestamp: int
    latency: int | None
    payload: bytes
    extra: tuple[str, ...] = ()
    where: str = field(default="", compare=False)

    def meta_line(self) -> bytes:
        fields = [str(self.type), self.id, str(self.timestamp)]
        if self.latency is not None:
            fields.append(str(self.latency))
        return " ".join([*fields, *self.extra]).encode("latin-1")

    def to_bytes(self) -> bytes:
        return self.meta_line() + b"\n" + self.payload + SEPARATOR


@dataclass(frozen=True, slots=True)
class GorProblem:
    path: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}: byte {self.offset}: {self.message}"


OnProblem = Callable[[GorProblem], None]


def open_gor(path: Path, mode: str = "rb") -> BinaryIO:
    """Open a .gor file; a name ending in .gz is gzip (the name is the only signal)."""
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, mode)  # type: ignore[return-value]
        return cast(BinaryIO, open(path, mode))  # the caller closes it
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None


def parse_record(chunk: bytes, where: str = "") -> GorRecord:
    """Parse one record's bytes (without separator). Raises ValueError with the reason."""
    meta, newline, payload = chunk.partition(b"\n")
    if not newline:
        raise ValueError("record has no payload (no newline after the meta line)")
    fields = meta.decode("latin-1").split(" ")
    if len(fields) < 3:
        raise ValueError(f"meta line has {len(fields)} field(s), needs at least 3: {meta[:80]!r}")
    if not fields[0].isdigit() or not fields[2].lstrip("-").isdigit():
        raise ValueError(f"meta line is not 'type id timestamp ...': {meta[:80]!r}")
    latency = int(fields[3]) if len(fields) > 3 and _is_int(fields[3]) else None
    extra = tuple(fields[4:] if latency is not None else fields[3:])
    return GorRecord(int(fields[0]), fields[1], int(fields[2]), latency, payload, extra, where)


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


class RecordSplitter:
    """Splits a byte stream at record separators as blocks arrive (pure: feed bytes in,
    get (offset, record bytes) out); `rest` is what follows the last separator."""

    def __init__(self) -> None:
        self._buffer, self._offset = bytearray(), 0

    def feed(self, block: bytes) -> list[tuple[int, bytes]]:
        scan = max(0, len(self._buffer) - len(SEPARATOR) + 1)  # earlier bytes were searched
        self._buffer += block
        found, start = [], 0
        while (end := self._buffer.find(SEPARATOR, max(start, scan))) >= 0:
            found.append((self._offset + start, bytes(self._buffer[start:end])))
            start = end + len(SEPARATOR)
        del self._buffer[:start]
        self._offset += start
        return found

    def rest(self) -> tuple[int, bytes]:
        return self._offset, bytes(self._buffer)


def iter_chunks(stream: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (offset, record bytes, complete) split at separators, reading in blocks.

    `read1` where the stream has it, so a gzip stream hands over what it has decompressed
    before a truncation or corruption raises.
    """
    read = getattr(stream, "read1", stream.read)
    splitter = RecordSplitter()
    while block := read(BLOCK):
        for offset, chunk in splitter.feed(block):
            yield offset, chunk, True
    offset, rest = splitter.rest()
    if rest.strip():
        yield offset, rest, False


def read_gor(path: Path, on_problem: OnProblem) -> Iterator[GorRecord]:
    """Stream the records of one .gor file; report and skip what cannot be read.

    Offsets are in the file's bytes (for a .gz file, in its decompressed bytes).
    """
    with open_gor(path) as stream:
        readable = 0  # where the bytes not yet split into records start
        try:
            for offset, chunk, complete in iter_chunks(stream):
                readable = offset + len(chunk) + len(SEPARATOR)
                if not complete:
                    on_problem(GorProblem(str(path), offset, "truncated record (no separator)"))
                    continue
                try:
                    yield parse_record(chunk, f"{path}: byte {offset}")
                except ValueError as exc:
                    on_problem(GorProblem(str(path), offset, str(exc)))
        except (OSError, EOFError, zlib.error) as exc:
            on_problem(GorProblem(str(path), readable, f"unreadable from here on: {exc}"))


def merge_gor(paths: Iterable[Path], on_problem: OnProblem) -> Iterator[GorRecord]:
    """Several files merged by timestamp (a k-way merge of their streams, like GoReplay)."""
    streams = [read_gor(path, on_problem) for path in paths]
    return heapq.merge(*streams, key=lambda record: record.timestamp)


class GorWriter(AbstractContextManager["GorWriter"]):
    """Write records to a .gor file (gzip when the name ends in .gz).

    `atomic`: write beside the file and put it in place only when the writer closes without
    an exception, so a failed conversion never leaves half a file or clobbers an old one.
    """

    def __init__(self, path: Path, append: bool = False, atomic: bool = False) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".partial") if atomic else None
        target = self._partial or path
        if self._partial is not None and path.name.endswith(".gz"):
            target = path.with_name(path.name.removesuffix(".gz") + ".partial.gz")
            self._partial = target
        self._to_stdout = str(path) == "-"  # GoReplay's --output-stdout: the same framing
        if self._to_stdout:
            self._partial = None
        self._stream = (
            sys.stdout.buffer if self._to_stdout else open_gor(target, "ab" if append else "wb")
        )
        self.count = 0

    def write(self, record: GorRecord) -> None:
        self._stream.write(record.to_bytes())
        self.count += 1

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if self._to_stdout:
            self._stream.flush()
        else:
            self._stream.close()

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        self.close()
        if self._partial is not None:
            if kind is None:
                self._partial.replace(self.path)
            else:
                self._partial.unlink(missing_ok=True)


def write_gor(path: Path, records: Iterable[GorRecord]) -> int:
    with GorWriter(path) as writer:
        for record in records:
            writer.write(record)
        return writer.count


SNIFF = 4 << 20


def check_gor(path: Path) -> None:
    """Refuse, with one clear line, a file that is not a .gor recording: one whose first
    record, or the first record after a separator within 4 MiB, has no valid meta line.
    (A corrupt first record of a real recording is reported and skipped like any other.)"""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a .gor file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open_gor(path) as stream:
            head = stream.read(SNIFF)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: unreadable: {exc}") from None
    if not head:
        raise InputError(f"{path}: empty file, no .gor records")
    first_end = head.find(SEPARATOR)
    starts = [0] if first_end < 0 else [0, first_end + len(SEPARATOR)]
    if not any(_is_meta_line(head[start:].partition(b"\n")[0]) for start in starts):
        found = head.partition(b"\n")[0][:40]
        raise InputError(
            f"{path}: not a .gor file (it should start with '<type> <id> <timestamp>', "
            f"found {found!r})"
        )


def _is_meta_line(line: bytes) -> bool:
    try:
        parse_record(line + b"\n")
    except ValueError:
        return False
    return True
