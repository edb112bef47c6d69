"""Every GoReplay flag (1.3 and 2.0, plus names from older releases) and what shadowdiff does
with it: read it into a field, read it as an `--http-*` filter or rewrite, accept it without
effect, read it as a new name, or refuse it with the alternative shadowdiff offers. Names are
canonical: two dashes, as GoReplay's documentation spells them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Kind(enum.Enum):
    """How a flag takes its value, in Go `flag` syntax."""

    BOOL = "bool"  # no value, `=true`/`=false`, or a following bare `true`/`false`
    INT = "int"
    TEXT = "text"  # addresses, durations, sizes, paths, patterns: kept as typed
    OPTIONAL_INT = "optional int"  # --verbose: an int at 1.3+, a bool before


class Role(enum.Enum):
    """Where a flag's value goes in the parsed command."""

    FIELD = "field"  # a GorCommand field named after the flag
    HTTP = "http"  # GorCommand.http, by flag name
    ACCEPTED = "accepted"  # GorCommand.accepted: read and ignored
    SHADOWDIFF = "shadowdiff"  # GorCommand.shadowdiff: shadowdiff's own extras


@dataclass(frozen=True, slots=True)
class FlagSpec:
    kind: Kind
    role: Role
    is_multi: bool = False  # repeated values accumulate; otherwise the last one wins


def _spec(kind: Kind, role: Role, *names: str, is_multi: bool = False) -> dict[str, FlagSpec]:
    return {name: FlagSpec(kind, role, is_multi) for name in names}


BOOL, INT, TEXT = Kind.BOOL, Kind.INT, Kind.TEXT
FIELD, HTTP, ACCEPTED = Role.FIELD, Role.HTTP, Role.ACCEPTED

SPECS: Final[dict[str, FlagSpec]] = {
    **_spec(TEXT, FIELD, "--input-raw", "--input-file", "--input-tcp", is_multi=True),
    **_spec(TEXT, FIELD, "--output-http", "--output-file", "--output-tcp", is_multi=True),
    **_spec(BOOL, FIELD, "--input-raw-track-response", "--input-file-loop"),
    **_spec(TEXT, FIELD, "--input-raw-bpf-filter", "--input-raw-buffer-size", "--input-raw-engine"),
    **_spec(TEXT, FIELD, "--input-file-max-wait", "--output-http-timeout"),
    **_spec(BOOL, FIELD, "--output-http-track-response", "--output-stdout", "--output-null"),
    **_spec(INT, FIELD, "--output-http-workers", "--output-file-queue-limit"),
    **_spec(BOOL, FIELD, "--output-file-append", "--split-output", "--http-original-host"),
    **_spec(BOOL, FIELD, "--prettify-http"),
    **_spec(TEXT, FIELD, "--output-file-size-limit", "--output-file-max-size-limit"),
    **_spec(TEXT, FIELD, "--output-file-flush-interval", "--middleware", "--exit-after"),
    **_spec(
        TEXT,
        HTTP,
        "--http-allow-method",
        "--http-allow-url",
        "--http-disallow-url",
        "--http-allow-header",
        "--http-disallow-header",
        "--http-basic-auth-filter",
        "--http-set-header",
        "--http-set-param",
        "--http-rewrite-url",
        "--http-rewrite-header",
        is_multi=True,
    ),
    # GoReplay accumulates these too, but shadowdiff keeps one of each: a repeat is an error
    **_spec(TEXT, HTTP, "--http-header-limiter", "--http-param-limiter"),
    **_spec(Kind.OPTIONAL_INT, ACCEPTED, "--verbose"),
    **_spec(
        BOOL,
        ACCEPTED,
        "--stats",
        "--debug",
        "--input-raw-promisc",
        "--input-raw-monitor",
        "--input-raw-override-snaplen",
        "--input-raw-immediate-mode",
        "--input-raw-allow-incomplete",
        "--input-raw-stats",
        "--output-http-stats",
        "--output-http-skip-verify",
        "--output-http-debug",
        "--output-http-compatibility-mode",
        "--output-tcp-stats",
        "--output-tcp-sticky",
        "--output-tcp-skip-verify",
    ),
    **_spec(
        INT,
        ACCEPTED,
        "--output-http-stats-ms",
        "--output-http-workers-min",
        "--output-http-queue-len",
        "--output-http-redirects",
        "--output-tcp-workers",
        "--input-file-read-depth",
    ),
    **_spec(
        TEXT,
        ACCEPTED,
        "--http-pprof",
        "--cpuprofile",
        "--memprofile",
        "--copy-buffer-size",
        "--input-raw-expire",
        "--input-raw-buffer-timeout",
        "--input-raw-timestamp-type",
        "--input-raw-protocol",
        "--output-http-worker-timeout",
        "--output-http-response-buffer",
        "--output-file-buffer",
    ),
    **_spec(TEXT, ACCEPTED, "--input-raw-ignore-interface", is_multi=True),
    **_spec(TEXT, Role.SHADOWDIFF, "--db", "--rules", "--run", "--interface"),
    # shadowdiff's own output: the traffic bus (shadowdiff/bus/), repeatable like GoReplay's
    **_spec(TEXT, FIELD, "--output-redis", is_multi=True),
}

HELP_NAMES: Final = frozenset({"--h", "--help"})  # -h, -help, --h, --help

# Old names (removed before 1.3, or misprinted in help texts and blogs) -> current name.
RENAMED: Final[dict[str, str]] = {
    "--http-header": "--http-set-header",
    "--output-http-header": "--http-set-header",
    "--output-http-url-regexp": "--http-allow-url",
    "--output-http-method": "--http-allow-method",
    "--output-http-rewrite-url": "--http-rewrite-url",
    "--output-http-header-filter": "--http-allow-header",
    "--output-http-header-hash-filter": "--http-header-limiter",
    "--input-raw-max-wait": "--input-file-max-wait",
}

_KAFKA = (
    "shadowdiff's traffic bus is Redis Streams (planned: `--to redis://...` / "
    "`replay --from redis://...`); meanwhile use --output-tcp/--input-tcp or files"
)
_KAFKA_FLAGS = (
    *(
        f"--{side}-kafka-{name}"
        for side in ("input", "output")
        for name in ("host", "topic", "json-format", "use-sasl", "mechanism", "username")
    ),
    "--input-kafka-password",
    "--output-kafka-password",
    "--input-kafka-offset",
    "--kafka-tls-ca-cert",
    "--kafka-tls-client-cert",
    "--kafka-tls-client-key",
)
_WS_FLAGS = (
    "--output-ws",
    *(f"--output-ws-{name}" for name in ("workers", "sticky", "skip-verify", "stats")),
)
_WS = "use --output-tcp (the same framing over plain TCP)"
_PRO_FLAGS = (
    "--recognize-tcp-sessions",
    "--output-binary",
    *(f"--output-binary-{name}" for name in ("workers", "timeout", "track-response", "debug")),
    "--output-tcp-response-buffer",
)
_PRO = "it is GoReplay PRO only; shadowdiff replays HTTP/1.x exchanges with --output-http"
_TLS_FLAGS = (
    "--input-tcp-secure",
    "--input-tcp-certificate",
    "--input-tcp-certificate-key",
    "--output-tcp-secure",
)
_TLS = "shadowdiff's gor TCP stream has no TLS; tunnel it (ssh -L, stunnel, a VPN)"
_VLAN = "capture tagged traffic with a filter such as --input-raw-bpf-filter 'vlan and tcp port 80'"
VXLAN = "capture on a host that sees the decapsulated traffic, with --input-raw :PORT"

# Flag -> why not, and what shadowdiff offers instead (one line, after "--flag is not supported: ")
UNSUPPORTED: Final[dict[str, str]] = {
    "--output-http-elasticsearch": "the SQLite store and `shadowdiff report` replace it",
    **dict.fromkeys(_KAFKA_FLAGS, _KAFKA),
    **dict.fromkeys(_WS_FLAGS, _WS),
    **dict.fromkeys(_PRO_FLAGS, _PRO),
    **dict.fromkeys(_TLS_FLAGS, _TLS),
    **dict.fromkeys(("--input-raw-vlan", "--input-raw-vlan-vid"), _VLAN),
    **dict.fromkeys(("--input-raw-vxlan-port", "--input-raw-vxlan-vni"), VXLAN),
    "--input-raw-realip-header": (
        "set a fixed header with --http-set-header, or add one in --middleware"
    ),
    "--input-dummy": "use the bundled sample traffic (`shadowdiff demo`) or --input-file FILE.gor",
    "--input-file-dry-run": "shadowdiff has no dry run yet (it could be added later)",
    "--input-http": "it was removed from GoReplay; capture the port with --input-raw :PORT",
    "--output-dummy": "it was removed from GoReplay; use --output-stdout",
}
