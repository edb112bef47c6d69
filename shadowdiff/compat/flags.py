"""Read a GoReplay (`gor`) command line as its users type it, without running anything.

Go `flag` syntax: `-name value`, `--name value`, `-name=value`, `--name=value`; a boolean takes
no value, `=true`/`=false`, or a following bare `true`/`false` (old tutorials write
`--split-output true`). Multi flags accumulate; for the others the last value wins, as in Go.
Every GoReplay flag is known (see `flagtable`): it fills a field, lands in `http`, is
`accepted` without effect, is read under its current name (`renamed`), or is refused with one
line saying what shadowdiff offers instead."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from shadowdiff.compat.flagtable import (
    HELP_NAMES,
    RENAMED,
    SPECS,
    UNSUPPORTED,
    FlagSpec,
    Kind,
    Role,
)
from shadowdiff.compat.helptext import GOR_HELP
from shadowdiff.compat.values import value_problem
from shadowdiff.errors import InputError

__all__ = ["GOR_HELP", "GorCommand", "GorFlagError", "parse_gor_args"]

_BARE_BOOLS: Final = dict.fromkeys(("true", "TRUE", "True"), "true") | dict.fromkeys(
    ("false", "FALSE", "False"), "false"
)
_GO_BOOLS: Final = _BARE_BOOLS | dict.fromkeys("1tT", "true") | dict.fromkeys("0fF", "false")
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_KNOWN: Final = frozenset(SPECS) | RENAMED.keys() | UNSUPPORTED.keys() | HELP_NAMES
_UNKNOWN: Final = (
    "unknown GoReplay flag {} (shadowdiff gor accepts GoReplay 1.3/2.0 flags; "
    "see `shadowdiff gor --help`)"
)


class GorFlagError(InputError):
    """A GoReplay command line shadowdiff cannot take; the message is one line naming the flag."""


@dataclass(frozen=True, slots=True)
class GorCommand:
    """A parsed gor command line. Addresses, sizes and durations stay as typed."""

    input_raw: tuple[str, ...] = ()
    input_raw_track_response: bool = False
    input_raw_bpf_filter: str | None = None
    input_raw_buffer_size: str | None = None
    input_raw_engine: str | None = None
    input_file: tuple[str, ...] = ()
    input_file_loop: bool = False
    input_file_max_wait: str | None = None
    input_tcp: tuple[str, ...] = ()
    output_http: tuple[str, ...] = ()
    output_http_track_response: bool = False
    output_http_timeout: str | None = None
    output_http_workers: int | None = None
    output_stdout: bool = False
    output_null: bool = False
    output_file: tuple[str, ...] = ()
    output_file_append: bool = False
    output_file_size_limit: str | None = None
    output_file_queue_limit: int | None = None
    output_file_max_size_limit: str | None = None
    output_file_flush_interval: str | None = None
    output_tcp: tuple[str, ...] = ()
    output_redis: tuple[str, ...] = ()  # shadowdiff's: redis://HOST:PORT/DB?stream=NAME
    middleware: str | None = None
    split_output: bool = False
    exit_after: str | None = None
    http_original_host: bool = False
    prettify_http: bool = False
    http: dict[str, tuple[str, ...]] = field(default_factory=dict)
    accepted: tuple[str, ...] = ()
    shadowdiff: dict[str, str] = field(default_factory=dict)
    renamed: tuple[tuple[str, str], ...] = ()  # (old name as read, current name)
    help_requested: bool = False  # -h/--help: nothing else was read


def parse_gor_args(argv: Sequence[str]) -> GorCommand:
    """The command for these arguments (without the program name); raises GorFlagError."""
    seen = _scan(argv)
    if seen is None:
        return GorCommand(help_requested=True)
    command = _build(seen)
    _require_input_and_output(command)
    return command


@dataclass(slots=True)
class _Seen:
    values: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)

    def record(self, name: str, spec: FlagSpec, value: str) -> None:
        if spec.role is Role.ACCEPTED:
            self.accepted.append(_shown(name, spec.kind, value))
            return
        if spec.role is Role.HTTP and not spec.is_multi and name in self.values:
            raise GorFlagError(f"{name} given twice: shadowdiff takes one {name} per command")
        self.values.setdefault(name, []).append(value)

    def texts(self, name: str) -> tuple[str, ...]:
        return tuple(self.values.get(name, ()))

    def text(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else None

    def is_on(self, name: str) -> bool:
        return self.text(name) == "true"

    def integer(self, name: str) -> int | None:
        text = self.text(name)
        return None if text is None else int(text)

    def by_role(self, role: Role) -> dict[str, list[str]]:
        return {name: values for name, values in self.values.items() if SPECS[name].role is role}


def _scan(argv: Sequence[str]) -> _Seen | None:
    """Every flag read into a _Seen; None when help was asked for."""
    seen = _Seen()
    rest = deque(argv)
    while rest:
        arg = rest.popleft()
        if arg == "--":  # Go's end of flags; anything after it is positional
            if rest:
                raise _positional(rest[0])
            break
        if len(arg) < 2 or not arg.startswith("-"):
            raise _positional(arg)
        name, inline = _split(arg)
        if name in HELP_NAMES:
            return None
        _read_flag(name, inline, rest, seen)
    return seen


def _split(arg: str) -> tuple[str, str | None]:
    """`-name`, `--name=value` -> ("--name", value or None)."""
    body = arg[2:] if arg.startswith("--") else arg[1:]
    if not body or body[0] in "-=":
        raise GorFlagError(f"bad flag syntax: {arg}")
    name, equals, value = body.partition("=")
    return f"--{name}", value if equals else None


def _read_flag(name: str, inline: str | None, rest: deque[str], seen: _Seen) -> None:
    name = _current_name(name, seen)
    spec = SPECS[name]
    value = _take_value(name, spec.kind, inline, rest)
    problem = value_problem(name, value)
    if problem is not None:
        raise GorFlagError(problem)
    seen.record(name, spec, value)


def _current_name(name: str, seen: _Seen) -> str:
    if name in RENAMED:
        if (name, RENAMED[name]) not in seen.renamed:
            seen.renamed.append((name, RENAMED[name]))
        name = RENAMED[name]
    if name in UNSUPPORTED:
        raise GorFlagError(f"{name} is not supported: {UNSUPPORTED[name]}")
    if name not in SPECS:
        raise GorFlagError(_UNKNOWN.format(name))
    return name


def _take_value(name: str, kind: Kind, inline: str | None, rest: deque[str]) -> str:
    if kind is Kind.BOOL:
        return _bool_value(name, inline, rest)
    if kind is Kind.OPTIONAL_INT:
        return _optional_int_value(name, inline, rest)
    value = _next_value(name, rest) if inline is None else inline
    if kind is Kind.INT:
        _check_integer(name, value)
    return value


def _bool_value(name: str, inline: str | None, rest: deque[str]) -> str:
    if inline is None:
        return _BARE_BOOLS[rest.popleft()] if rest and rest[0] in _BARE_BOOLS else "true"
    if inline not in _GO_BOOLS:
        raise GorFlagError(f"invalid boolean value {inline!r} for {name} (use true or false)")
    return _GO_BOOLS[inline]


def _optional_int_value(name: str, inline: str | None, rest: deque[str]) -> str:
    """--verbose: an int level since GoReplay 1.3, a boolean before it."""
    if inline is None:
        if not rest or not (_INTEGER.fullmatch(rest[0]) or rest[0] in _BARE_BOOLS):
            return "true"
        inline = rest.popleft()
    if _INTEGER.fullmatch(inline):
        return inline
    return _bool_value(name, inline, rest)


def _next_value(name: str, rest: deque[str]) -> str:
    """The following argument, unless there is none or it is a known flag (a forgotten value;
    Go would take the flag as the value)."""
    if not rest or _is_known_flag(rest[0]):
        raise GorFlagError(f"flag needs an argument: {name}")
    return rest.popleft()


def _is_known_flag(arg: str) -> bool:
    return arg.startswith("-") and "--" + arg.lstrip("-").partition("=")[0] in _KNOWN


def _check_integer(name: str, value: str) -> None:
    if not _INTEGER.fullmatch(value):
        raise GorFlagError(f"invalid value {value!r} for {name}: expected an integer")


def _shown(name: str, kind: Kind, value: str) -> str:
    """How an accepted flag is reported: `--stats`, `--stats=false`, `--verbose=2`."""
    is_bare = kind in (Kind.BOOL, Kind.OPTIONAL_INT) and value == "true"
    return name if is_bare else f"{name}={value}"


def _positional(arg: str) -> GorFlagError:
    if arg == "file-server":
        return GorFlagError(
            "GoReplay's file-server subcommand is not provided; "
            "serve a directory with `python -m http.server PORT`"
        )
    return GorFlagError(
        f"unexpected argument {arg!r}: GoReplay takes flags only (quote a value with spaces)"
    )


def _build(seen: _Seen) -> GorCommand:
    return GorCommand(
        input_raw=seen.texts("--input-raw"),
        input_raw_track_response=seen.is_on("--input-raw-track-response"),
        input_raw_bpf_filter=seen.text("--input-raw-bpf-filter"),
        input_raw_buffer_size=seen.text("--input-raw-buffer-size"),
        input_raw_engine=seen.text("--input-raw-engine"),
        input_file=seen.texts("--input-file"),
        input_file_loop=seen.is_on("--input-file-loop"),
        input_file_max_wait=seen.text("--input-file-max-wait"),
        input_tcp=seen.texts("--input-tcp"),
        output_http=seen.texts("--output-http"),
        output_http_track_response=seen.is_on("--output-http-track-response"),
        output_http_timeout=seen.text("--output-http-timeout"),
        output_http_workers=seen.integer("--output-http-workers"),
        output_stdout=seen.is_on("--output-stdout"),
        output_null=seen.is_on("--output-null"),
        output_file=seen.texts("--output-file"),
        output_file_append=seen.is_on("--output-file-append"),
        output_file_size_limit=seen.text("--output-file-size-limit"),
        output_file_queue_limit=seen.integer("--output-file-queue-limit"),
        output_file_max_size_limit=seen.text("--output-file-max-size-limit"),
        output_file_flush_interval=seen.text("--output-file-flush-interval"),
        output_tcp=seen.texts("--output-tcp"),
        output_redis=seen.texts("--output-redis"),
        middleware=seen.text("--middleware"),
        split_output=seen.is_on("--split-output"),
        exit_after=seen.text("--exit-after"),
        http_original_host=seen.is_on("--http-original-host"),
        prettify_http=seen.is_on("--prettify-http"),
        http={name: tuple(values) for name, values in seen.by_role(Role.HTTP).items()},
        accepted=tuple(seen.accepted),
        shadowdiff={name: values[-1] for name, values in seen.by_role(Role.SHADOWDIFF).items()},
        renamed=tuple(seen.renamed),
    )


def _require_input_and_output(command: GorCommand) -> None:
    """GoReplay refuses to start without both."""
    if not (command.input_raw or command.input_file or command.input_tcp):
        raise GorFlagError("no input: give --input-raw, --input-file or --input-tcp")
    outputs = (command.output_http, command.output_file, command.output_tcp, command.output_redis)
    if not (any(outputs) or command.output_stdout or command.output_null):
        raise GorFlagError(
            "no output: give --output-http, --output-file, --output-tcp, --output-stdout, "
            "--output-null or --output-redis"
        )
