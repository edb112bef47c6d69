"""GoReplay command lines as its users type them: every `gor` line of the seed tutorials, Go's
flag forms, and one clear line for each refusal."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.compat.flags import GOR_HELP, GorCommand, GorFlagError, parse_gor_args
from shadowdiff.compat.flagtable import RENAMED, SPECS, UNSUPPORTED, Role
from shadowdiff.errors import InputError


def argv_of(line: str) -> list[str]:
    """A shell line as the shell would split it, without `sudo` and the program name."""
    words = shlex.split(line, comments=True)
    while words and words[0] in ("sudo", "gor", "./gor"):
        words.pop(0)
    return words


def refusal(argv: list[str]) -> str:
    with pytest.raises(GorFlagError) as caught:
        parse_gor_args(argv)
    message = str(caught.value)
    assert "\n" not in message
    return message


# Every `gor` line of seeds 000, 001, 002 and 004 that GoReplay runs, copied as printed (lines
# continued with `\` are joined). Quirks kept: an unquoted regex loses its backslashes to the
# shell, `:"8001"` is `:8001`, `--split-output true` and the old `--http-header`.
SEED_SPEED = 'gor --input-file "requests.gor|200%" --output-http "staging.com"'
SEED_LIMITER = (
    'gor --input-raw :80 --output-tcp "http://staging.com:81|10%" '
    '--http-header-limiter "X-API-KEY: 10%"'
)
SEED_HEADER = (
    'gor --input-raw :80 --output-http "http://staging.server" '
    '--http-header "User-Agent: Replayed by Gor" --http-header "Enable-Feature-X: true"'
)
SEED_ROBOT = (
    "sudo ./gor --input-raw :16888  --input-raw-track-response  --output-http "
    '"http://10.13.118.203:17555"  --output-http-track-response --middleware '
    '"python3 middleware.py" --http-allow-url "/v2/robot/query" --http-allow-url '
    '"/v2/robot/input_hint" --http-allow-url "/v1/robot/intention"'
)
SEED_LINES = [
    # 000
    "gor --input-raw :8000 --output-stdout",
    'gor --input-raw :8000 --output-http="http://example:8001"',
    'gor --input-tcp :28020 --output-http "http://staging.com"  --output-http "http://dev.com"',
    'gor --input-raw :80 --output-http "http://staging.com"  --output-http "http://dev.com" '
    "--split-output true",
    "gor --input-raw :8000 --output-file=requests.gor",
    "gor --input-raw :8000 --output-file requests.gor-%Y-%m-%d-%H.log  "
    "#requests.gor-2016-06-01-12.log",
    'gor --input-file requests.gor --output-http="http://localhost:8001"',
    "gor --input-file requests.gor1 --input-file requests.gor2 "
    '--output-http="http://localhost:8001"',
    SEED_SPEED,
    'gor --input-file "requests.gor" --output-http "staging.com" --input-file-loop',
    'gor --input-tcp :81 --output-http "http://staging.com|10" ',
    'gor --input-tcp :81 --output-http "http://staging.com|10%" ',
    SEED_LIMITER,
    'gor --input-raw :80 --output-tcp "http://staging.com:81|10%" '
    '--http-param-limiter "api_key: 10%"',
    "gor --input-raw :8080 --output-http staging.com --http-allow-url /api",
    "gor --input-raw :8080 --output-http staging.com --http-disallow-url /api",
    r"gor --input-raw :8080 --output-http staging.com --http-allow-header api-version:^1\.0\d",
    "gor --input-raw :8080 --output-http staging.com "
    '--http-disallow-header "User-Agent: Replayed by Gor"',
    'gor --input-raw :80 --output-http "http://staging.server" '
    "--http-allow-method GET --http-allow-method OPTIONS",
    "gor --input-raw :8080 --output-http staging.com "
    r"--http-rewrite-url /v1/user/([^\\/]+)/ping:/v2/user/$1/ping",
    "gor --input-raw :8080 --output-http staging.com --http-set-param api_key=1",
    SEED_HEADER,
    'gor --input-raw :80 --middleware "/opt/middleware_executable" '
    '--output-http "http://staging.server"',
    'gor --input-raw :"8001" --output-http="http://127.0.0.1:8000" --output-stdout',
    'gor --input-raw :"8001" --output-http="http://127.0.0.1:8000" --output-stdout '
    "--input-raw-track-response  --output-http-track-response",
    'gor --input-raw :8001 --output-http="http://127.0.0.1:8000" --input-raw-track-response  '
    '--output-http-track-response --prettify-http --middleware "/website/goreplay/mid"',
    "gor --input-raw :8001 --output-file requests.gor-%Y-%m-%d-%H.log",
    'gor --input-file "requests.gor-2020-10-27-18_0.log|300%" '
    '--output-http="http://127.0.0.1:8000" --input-file-loop',
    # 001, including the examples of its `gor -h` listing
    'sudo gor --input-raw :8081 --output-http="http://127.0.0.1:8082"',
    "sudo gor --input-raw :8081 --output-file ./requests.gor",
    'gor --input-file "requests_0.gor" --output-http="http://127.0.0.1:8082|50%"',
    'gor --input-file "requests_0.gor|1000%" --output-http="http://127.0.0.1:8082|50%" '
    "# 1000%就是放大10倍",
    "gor --input-raw :8080 --output-http staging.com --http-allow-header api-version:^v1",
    "gor --input-raw :8080 --output-http staging.com "
    "--http-allow-method GET --http-allow-method OPTIONS",
    "gor --input-raw :8080 --output-http staging.com --http-allow-url ^www.",
    'gor --input-raw :8080 --output-http staging.com --http-basic-auth-filter "^customer[0-9].*"',
    # 002
    SEED_ROBOT,
    # 004
    "sudo gor --input-raw :80 --output-tcp replay.local:28020",
    "gor --input-tcp replay.local:28020 --output-http http://staging.com",
    'gor --input-tcp :28020 --output-http "http://staging.com"  --output-http "http://dev.com"',
    'gor --input-tcp :28020 --output-http "http://staging.com"  --output-http "http://dev.com" '
    "--split-output true",
    'gor --input-tcp :28020 --output-http "http://staging.com|10"',
    "sudo gor --input-raw :80 --output-tcp preview:28020",
]


@pytest.mark.parametrize("line", SEED_LINES)
def test_every_seed_line_parses_with_nothing_ignored(line: str) -> None:
    command = parse_gor_args(argv_of(line))
    assert command.accepted == ()
    assert not command.help_requested


def test_seed_capture_to_stdout() -> None:
    command = parse_gor_args(["--input-raw", ":8000", "--output-stdout"])
    assert command == GorCommand(input_raw=(":8000",), output_stdout=True)


def test_seed_split_output_with_a_bare_true() -> None:
    argv = ["--input-tcp", ":28020", "--output-http", "http://staging.com"]
    argv += ["--output-http", "http://dev.com", "--split-output", "true"]
    assert parse_gor_args(argv) == GorCommand(
        input_tcp=(":28020",),
        output_http=("http://staging.com", "http://dev.com"),
        split_output=True,
    )


def test_seed_middleware_with_both_sides_tracked() -> None:
    argv = ["--input-raw", ":8001", "--output-http=http://127.0.0.1:8000"]
    argv += ["--input-raw-track-response", "--output-http-track-response", "--prettify-http"]
    argv += ["--middleware", "/website/goreplay/mid"]
    assert parse_gor_args(argv) == GorCommand(
        input_raw=(":8001",),
        input_raw_track_response=True,
        output_http=("http://127.0.0.1:8000",),
        output_http_track_response=True,
        prettify_http=True,
        middleware="/website/goreplay/mid",
    )


def test_seed_filters_keep_their_order_and_values() -> None:
    command = parse_gor_args(argv_of(SEED_ROBOT))
    assert command.middleware == "python3 middleware.py"
    assert command.http == {
        "--http-allow-url": ("/v2/robot/query", "/v2/robot/input_hint", "/v1/robot/intention")
    }


def test_seed_old_http_header_is_read_as_set_header() -> None:
    command = parse_gor_args(argv_of(SEED_HEADER))
    assert command.http == {
        "--http-set-header": ("User-Agent: Replayed by Gor", "Enable-Feature-X: true")
    }
    assert command.renamed == (("--http-header", "--http-set-header"),)


def test_seed_rates_and_limiters_stay_as_typed() -> None:
    command = parse_gor_args(argv_of(SEED_LIMITER))
    assert command.output_tcp == ("http://staging.com:81|10%",)
    assert command.http == {"--http-header-limiter": ("X-API-KEY: 10%",)}
    assert parse_gor_args(argv_of(SEED_SPEED)).input_file == ("requests.gor|200%",)


def test_seed_elasticsearch_is_refused_with_the_store_as_alternative() -> None:
    line = "gor --input-raw :8000 --output-http http://staging.cm  "
    line += "--output-http-elasticsearch localhost:9200/gor"
    assert refusal(argv_of(line)) == (
        "--output-http-elasticsearch is not supported: "
        "the SQLite store and `shadowdiff report` replace it"
    )


@pytest.mark.parametrize(
    "argv", [["-h"], ["--help"], ["-help"], ["--input-raw", ":80", "-h", "--bogus"]]
)
def test_help_stops_reading(argv: list[str]) -> None:
    assert parse_gor_args(argv) == GorCommand(help_requested=True)


@pytest.mark.parametrize(
    "forms",
    [
        ["-output-http", "http://a"],
        ["--output-http", "http://a"],
        ["-output-http=http://a"],
        ["--output-http=http://a"],
    ],
)
def test_four_go_flag_forms(forms: list[str]) -> None:
    assert parse_gor_args(["-input-raw=:80", *forms]).output_http == ("http://a",)


@given(
    st.text(min_size=1).filter(lambda value: value.strip() != "" and not value.startswith("-")),
    st.sampled_from(["-", "--"]),
)
def test_a_value_reads_the_same_in_every_form(value: str, dashes: str) -> None:
    spaced = parse_gor_args(["--input-raw", ":80", f"{dashes}output-http", value])
    joined = parse_gor_args(["--input-raw", ":80", f"{dashes}output-http={value}"])
    assert spaced == joined
    assert spaced.output_http == (value,)


@pytest.mark.parametrize(
    ("argv", "is_on"),
    [
        (["--input-file-loop"], True),
        (["-input-file-loop"], True),
        (["--input-file-loop=true"], True),
        (["--input-file-loop", "true"], True),
        (["--input-file-loop", "True"], True),
        (["-input-file-loop=1"], True),
        (["--input-file-loop=T"], True),
        (["--input-file-loop=false"], False),
        (["--input-file-loop", "false"], False),
        (["--input-file-loop=0"], False),
        (["--input-file-loop", "--input-file-loop=f"], False),
    ],
)
def test_boolean_forms(argv: list[str], is_on: bool) -> None:
    command = parse_gor_args(["--input-file", "a.gor", *argv, "--output-null"])
    assert command.input_file_loop is is_on
    assert command.input_file == ("a.gor",)


def test_multi_flags_accumulate_and_single_flags_keep_the_last() -> None:
    argv = ["--input-raw", ":80", "--input-raw", "eth0:8080", "--output-file", "a.gor"]
    argv += ["--output-file", "b.gor", "--output-tcp", "h:1", "--output-tcp", "h:2"]
    argv += ["--middleware", "first", "--middleware", "second", "--output-http-timeout", "1s"]
    argv += ["-output-http-timeout=30s", "--http-allow-method", "GET", "--http-allow-method=PUT"]
    command = parse_gor_args(argv)
    assert command.input_raw == (":80", "eth0:8080")
    assert command.output_file == ("a.gor", "b.gor")
    assert command.output_tcp == ("h:1", "h:2")
    assert command.middleware == "second"
    assert command.output_http_timeout == "30s"
    assert command.http == {"--http-allow-method": ("GET", "PUT")}


def test_every_supported_field() -> None:
    argv = [
        *("--input-raw", ":80,8080", "--input-raw-track-response"),
        *("--input-raw-bpf-filter", "tcp port 80", "--input-raw-buffer-size", "10mb"),
        *("--input-raw-engine", "af_packet", "--input-file", "a.gor|200%"),
        *("--input-file-loop", "--input-file-max-wait", "2s", "--input-tcp", ":28020"),
        *("--output-http", "http://staging.com|10%", "--output-http-track-response"),
        *("--output-http-timeout", "30s", "--output-http-workers", "8", "--output-stdout"),
        *("--output-null", "--output-file", "out-%Y.gor", "--output-file-append"),
        *("--output-file-size-limit", "32mb", "--output-file-queue-limit", "0"),
        *("--output-file-max-size-limit", "1TB", "--output-file-flush-interval", "100ms"),
        *("--output-tcp", "replay.local:28020", "--middleware", "python3 mw.py"),
        *("--split-output", "--exit-after", "5m", "--http-original-host", "--prettify-http"),
        *("--db", "night.db", "-rules=rules", "--run", "nightly", "--interface", "eth1"),
    ]
    assert parse_gor_args(argv) == GorCommand(
        input_raw=(":80,8080",),
        input_raw_track_response=True,
        input_raw_bpf_filter="tcp port 80",
        input_raw_buffer_size="10mb",
        input_raw_engine="af_packet",
        input_file=("a.gor|200%",),
        input_file_loop=True,
        input_file_max_wait="2s",
        input_tcp=(":28020",),
        output_http=("http://staging.com|10%",),
        output_http_track_response=True,
        output_http_timeout="30s",
        output_http_workers=8,
        output_stdout=True,
        output_null=True,
        output_file=("out-%Y.gor",),
        output_file_append=True,
        output_file_size_limit="32mb",
        output_file_queue_limit=0,
        output_file_max_size_limit="1TB",
        output_file_flush_interval="100ms",
        output_tcp=("replay.local:28020",),
        middleware="python3 mw.py",
        split_output=True,
        exit_after="5m",
        http_original_host=True,
        prettify_http=True,
        shadowdiff={
            "--db": "night.db",
            "--rules": "rules",
            "--run": "nightly",
            "--interface": "eth1",
        },
    )


def test_tuning_flags_are_accepted_with_their_values() -> None:
    argv = ["--input-raw", ":80", "--output-stdout", "--verbose", "2", "--stats"]
    argv += ["--output-http-stats", "--output-http-stats-ms", "1000", "--output-tcp-stats"]
    argv += ["--http-pprof", ":8181", "-cpuprofile=cpu.out", "--input-raw-expire", "3s"]
    argv += ["--input-raw-promisc", "--input-raw-override-snaplen", "--output-http-redirects=0"]
    argv += ["--output-http-skip-verify", "--copy-buffer-size", "10mb", "--stats=false"]
    assert parse_gor_args(argv).accepted == (
        "--verbose=2",
        "--stats",
        "--output-http-stats",
        "--output-http-stats-ms=1000",
        "--output-tcp-stats",
        "--http-pprof=:8181",
        "--cpuprofile=cpu.out",
        "--input-raw-expire=3s",
        "--input-raw-promisc",
        "--input-raw-override-snaplen",
        "--output-http-redirects=0",
        "--output-http-skip-verify",
        "--copy-buffer-size=10mb",
        "--stats=false",
    )


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--verbose"], "--verbose"),  # the boolean of GoReplay before 1.3
        (["--verbose", "true"], "--verbose"),
        (["--verbose=3"], "--verbose=3"),
        (["-verbose", "1"], "--verbose=1"),
    ],
)
def test_verbose_takes_an_optional_level(argv: list[str], shown: str) -> None:
    command = parse_gor_args([*argv, "--input-raw", ":80", "--output-null"])
    assert command.accepted == (shown,)
    assert command.input_raw == (":80",)


@pytest.mark.parametrize(("old", "current"), sorted(RENAMED.items()))
def test_old_names_are_read_as_current_ones(old: str, current: str) -> None:
    command = parse_gor_args(["--input-file", "a.gor", "--output-null", old, "2s"])
    assert command.renamed == ((old, current),)
    if current == "--input-file-max-wait":
        assert command.input_file_max_wait == "2s"
    else:
        assert command.http == {current: ("2s",)}


def test_a_value_may_start_with_a_dash_unless_it_is_a_flag() -> None:
    command = parse_gor_args(["--input-raw", ":80", "--output-null", "--http-disallow-url", "-v1$"])
    assert command.http == {"--http-disallow-url": ("-v1$",)}


def test_double_dash_ends_the_flags() -> None:
    assert parse_gor_args(["--input-raw", ":80", "--output-null", "--"]).output_null


REFUSALS = [
    (["--input-raw", ":80", "--output-kafka-host", "k:9092"], "--output-kafka-host", "Redis"),
    (["--input-kafka-topic=t", "--output-stdout"], "--input-kafka-topic", "--input-tcp"),
    (["--input-raw", "k8s://default/deployment/web:80"], "k8s://", "sidecar"),
    (["--input-raw", "dump.pcap", "--output-null"], "--input-raw", "shadowdiff import"),
    (["--input-raw-engine", "pcap_file"], "--input-raw-engine", "shadowdiff import"),
    (["--input-raw-engine", "vxlan"], "--input-raw-engine", "decapsulated"),
    (["--input-raw-engine", "dpdk"], "--input-raw-engine", "libpcap"),
    (["--input-raw-vxlan-port", "4789"], "--input-raw-vxlan-port", "decapsulated"),
    (["--input-raw-vlan"], "--input-raw-vlan", "--input-raw-bpf-filter"),
    (["--input-raw-protocol", "binary"], "--input-raw-protocol", "HTTP/1.x"),
    (["--input-raw-protocol", "grpc"], "--input-raw-protocol", "unknown"),
    (["--input-raw-realip-header", "X-Real-IP"], "--input-raw-realip-header", "--http-set"),
    (["--output-ws", "ws://h:80"], "--output-ws", "--output-tcp"),
    (["--output-binary", "h:80"], "--output-binary", "PRO"),
    (["--recognize-tcp-sessions"], "--recognize-tcp-sessions", "PRO"),
    (["--input-tcp-secure"], "--input-tcp-secure", "tunnel"),
    (["--input-file", "s3://bucket/prefix"], "--input-file", "aws s3 cp"),
    (["--input-raw", ":80", "--output-file", "s3://b/%Y.gor"], "--output-file", "PRO"),
    (["--input-dummy", "1"], "--input-dummy", "shadowdiff demo"),
    (["--input-file", "a.gor", "--input-file-dry-run"], "--input-file-dry-run", "later"),
    (["--input-http", ":9000"], "--input-http", "--input-raw"),
    (["--output-dummy", "x"], "--output-dummy", "--output-stdout"),
    (["--output-http-redirects", "3"], "--output-http-redirects", "never follows redirects"),
    (["--http-header-limiter", "a: 1%", "--http-header-limiter=b: 2%"], "limiter", "one"),
    (["--output-http-workers", "abc"], "--output-http-workers", "integer"),
    (["--output-file-queue-limit=1.5"], "--output-file-queue-limit", "integer"),
    (["--verbose=loud"], "--verbose", "true or false"),
    (["--split-output=maybe"], "--split-output", "true or false"),
    (["--input-raw", ":80", "--output-http="], "--output-http", "empty"),
    (["---input-raw", ":80"], "---input-raw", "bad flag syntax"),
    (["-=x"], "-=x", "bad flag syntax"),
    (["--input-raw", ":80", "--middleware", "python3", "mw.py"], "'mw.py'", "quote"),
    (["--input-raw", ":80", "--", "--output-null"], "'--output-null'", "unexpected"),
    (["file-server", ":8000"], "file-server", "python -m http.server"),
]


@pytest.mark.parametrize(("argv", "names", "says"), REFUSALS)
def test_each_refusal_is_one_line_naming_the_flag(argv: list[str], names: str, says: str) -> None:
    message = refusal(argv)
    assert names in message
    assert says in message


def test_refusals_are_input_errors_with_exit_code_2() -> None:
    with pytest.raises(InputError) as caught:
        parse_gor_args(["--nope"])
    assert caught.value.exit_code == 2


def test_unknown_flag_message() -> None:
    assert refusal(["--input-raw", ":80", "-foo", "bar"]) == (
        "unknown GoReplay flag --foo (shadowdiff gor accepts GoReplay 1.3/2.0 flags; "
        "see `shadowdiff gor --help`)"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--input-raw", ":80", "--output-http"],
        ["--output-http", "--input-raw", ":80"],
        ["--output-http", "-input-raw=:80"],
    ],
)
def test_missing_value_message(argv: list[str]) -> None:
    assert refusal(argv) == "flag needs an argument: --output-http"


def test_kafka_message() -> None:
    assert refusal(["--output-kafka-host", "k:9092"]) == (
        "--output-kafka-host is not supported: shadowdiff's traffic bus is Redis Streams "
        "(planned: `--to redis://...` / `replay --from redis://...`); meanwhile use "
        "--output-tcp/--input-tcp or files"
    )


def test_redirects_message() -> None:
    assert refusal(["--output-http-redirects", "2"]) == (
        "--output-http-redirects '2' is not supported: shadowdiff never follows redirects: "
        "a replay compares the redirect itself"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no input: give --input-raw, --input-file or --input-tcp"),
        (["--output-stdout"], "no input: give --input-raw, --input-file or --input-tcp"),
        (
            ["--input-raw", ":80", "--output-stdout=false"],
            "no output: give --output-http, --output-file, --output-tcp, --output-stdout, "
            "--output-null or --output-redis",
        ),
    ],
)
def test_input_and_output_are_required(argv: list[str], message: str) -> None:
    assert refusal(argv) == message


# Every flag named in section 1 of the GoReplay research (shared/research/goreplay.md)
RESEARCH_FLAGS = re.findall(
    r"--[a-z0-9-]+",
    """
--copy-buffer-size --cpuprofile --debug --exit-after --http-allow-header --http-allow-method
--http-allow-url --http-basic-auth-filter --http-disallow-header --http-disallow-url
--http-header-limiter --http-original-host --http-param-limiter --http-pprof
--http-rewrite-header --http-rewrite-url --http-set-header --http-set-param --input-dummy
--input-file --input-file-dry-run --input-file-loop --input-file-max-wait
--input-file-read-depth --input-http --input-kafka-host --input-kafka-json-format
--input-kafka-mechanism --input-kafka-offset --input-kafka-password --input-kafka-topic
--input-kafka-use-sasl --input-kafka-username --input-raw --input-raw-allow-incomplete
--input-raw-bpf-filter --input-raw-buffer-size --input-raw-buffer-timeout --input-raw-engine
--input-raw-expire --input-raw-ignore-interface --input-raw-immediate-mode --input-raw-max-wait
--input-raw-monitor --input-raw-override-snaplen --input-raw-promisc --input-raw-protocol
--input-raw-realip-header --input-raw-stats --input-raw-timestamp-type
--input-raw-track-response --input-raw-vlan --input-raw-vlan-vid --input-raw-vxlan-port
--input-raw-vxlan-vni --input-tcp --input-tcp-certificate --input-tcp-certificate-key
--input-tcp-secure --kafka-tls-ca-cert --kafka-tls-client-cert --kafka-tls-client-key
--memprofile --middleware --output-binary --output-binary-debug --output-binary-timeout
--output-binary-track-response --output-binary-workers --output-dummy --output-file
--output-file-append --output-file-buffer --output-file-flush-interval
--output-file-max-size-limit --output-file-queue-limit --output-file-size-limit --output-http
--output-http-compatibility-mode --output-http-debug --output-http-elasticsearch
--output-http-header --output-http-header-filter --output-http-header-hash-filter
--output-http-method --output-http-queue-len --output-http-redirects
--output-http-response-buffer --output-http-rewrite-url --output-http-skip-verify
--output-http-stats --output-http-stats-ms --output-http-timeout --output-http-track-response
--output-http-url-regexp --output-http-worker-timeout --output-http-workers
--output-http-workers-min --output-kafka-host --output-kafka-json-format
--output-kafka-mechanism --output-kafka-password --output-kafka-topic --output-kafka-use-sasl
--output-kafka-username --output-null --output-stdout --output-tcp --output-tcp-response-buffer
--output-tcp-secure --output-tcp-skip-verify --output-tcp-stats --output-tcp-sticky
--output-tcp-workers --output-ws --output-ws-skip-verify --output-ws-stats --output-ws-sticky
--output-ws-workers --prettify-http --recognize-tcp-sessions --split-output --stats --verbose
""",
)


def test_every_goreplay_flag_is_known_once() -> None:
    known = [*SPECS, *RENAMED, *UNSUPPORTED]
    assert len(known) == len(set(known))
    assert set(RESEARCH_FLAGS) <= set(known)


def test_renamed_flags_lead_to_supported_ones() -> None:
    assert set(RENAMED.values()) <= set(SPECS)


def test_fields_match_the_table() -> None:
    extras = {"http", "accepted", "shadowdiff", "renamed", "help_requested"}
    fields = {field.name for field in dataclasses.fields(GorCommand)} - extras
    assert fields == {
        name[2:].replace("-", "_") for name, spec in SPECS.items() if spec.role is Role.FIELD
    }


def test_help_lists_every_flag_that_has_an_effect() -> None:
    for name, spec in SPECS.items():
        assert spec.role is Role.ACCEPTED or name in GOR_HELP, name


def test_unsupported_reasons_are_one_line() -> None:
    assert all("\n" not in reason for reason in UNSUPPORTED.values())
