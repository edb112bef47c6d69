"""GoReplay middlewares hosted for real: child processes from tests/traffic/middlewares/, run
with this interpreter, one on the bare protocol and two on the `gor` 0.2.3 package."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowdiff.exchange import Exchange
from shadowdiff.gorfile import REPLAYED, REQUEST, RESPONSE, GorRecord
from shadowdiff.testing import make_exchange, make_request, make_response
from shadowdiff.traffic.gorproto import (
    EchoPairer,
    MiddlewareStats,
    baseline_record,
    decode_line,
    encode_line,
    request_record,
)
from shadowdiff.traffic.middleware import Middleware, MiddlewareError
from shadowdiff.traffic.middleware_stage import send_replayed, skip_replayed, through_middleware

MIDDLEWARES = Path(__file__).parent / "middlewares"


def command(script: str, *args: str) -> str:
    return " ".join([sys.executable, str(MIDDLEWARES / script), *args])


def exchange(
    target: str = "/items/1",
    status: int = 200,
    id: str | None = None,
    timestamp: int = 0,
    baseline_latency: int | None = None,
) -> Exchange:
    """A GET of `target` with a JSON baseline of `status` (none when status is 0)."""
    baseline = make_response(status, json={"target": target}) if status else None
    return make_exchange(make_request(target=target), baseline, id, timestamp, baseline_latency)


async def source(exchanges: Iterable[Exchange]) -> AsyncIterator[Exchange]:
    for item in exchanges:
        yield item


def run(
    cmd: str, exchanges: list[Exchange], out: list[Exchange] | None = None, **options: float
) -> tuple[list[Exchange], MiddlewareStats]:
    """The exchanges through the middleware; `out` collects them even when it fails."""
    out = [] if out is None else out
    stats = MiddlewareStats()

    async def main() -> None:
        async with Middleware(cmd, **options) as middleware:
            async for item in through_middleware(middleware, source(exchanges), stats):
                out.append(item)

    asyncio.run(main())
    return out, stats


def by_id(exchanges: Iterable[Exchange]) -> dict[str, Exchange]:
    return {item.id: item for item in exchanges}


# --- the protocol, pure ---------------------------------------------------------------------

records = st.builds(
    GorRecord,
    type=st.sampled_from([REQUEST, RESPONSE, REPLAYED]),
    id=st.text("0123456789abcdef", min_size=1, max_size=24),
    timestamp=st.integers(0, 2**63),
    latency=st.integers(-1, 2**40),
    payload=st.binary(max_size=300),
)


def test_a_message_is_one_line_of_lowercase_hex_of_meta_newline_payload() -> None:
    line = encode_line(GorRecord(REQUEST, "a1", 5, 0, b"GET / HTTP/1.1\r\n\r\n"))
    assert line == (b"1 a1 5 0\nGET / HTTP/1.1\r\n\r\n").hex().encode() + b"\n"


@given(records)
def test_decoding_an_encoded_line_gives_the_record_back_in_either_case(record: GorRecord) -> None:
    line = encode_line(record)
    assert decode_line(line) == record
    assert decode_line(b" \t" + line.upper().rstrip(b"\n") + b"\r\n") == record


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"abc\n", "not hex"),
        (b"zz\n", "not hex"),
        (b"1 x\nGET".hex().encode(), "needs at least 3"),
        (b"1 x 5 0".hex().encode(), "no newline"),
        (b"\n", "no newline"),
    ],
)
def test_a_line_that_is_not_a_message_says_why(line: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_line(line)


class Pairing:
    """An EchoPairer with a hand-driven clock; `echo` feeds what a middleware wrote."""

    def __init__(self) -> None:
        self.stats = MiddlewareStats()
        self.problems: list[str] = []
        self.pairer = EchoPairer(
            self.stats, hold=2.0, forget_after=30.0, on_problem=self.problems.append
        )

    def send(self, *exchanges: Exchange, now: float = 0.0) -> None:
        for item in exchanges:
            self.pairer.sent(item, now)

    def echo(self, record: GorRecord | None, now: float = 0.0) -> list[Exchange]:
        assert record is not None
        return self.pairer.echoed(record, now)


def test_an_exchange_comes_out_when_both_echoes_are_back_in_either_order() -> None:
    first, second = exchange("/a"), exchange("/b")
    pairing = Pairing()
    pairing.send(first, second)
    assert pairing.echo(request_record(first)) == []
    assert pairing.echo(baseline_record(second)) == []
    assert pairing.echo(baseline_record(first)) == [first]
    assert pairing.echo(request_record(second)) == [second]
    assert pairing.pairer.pending == 0


def test_unchanged_echoes_hand_on_the_original_messages() -> None:
    item = exchange()
    pairing = Pairing()
    pairing.send(item)
    pairing.echo(request_record(item))
    [out] = pairing.echo(baseline_record(item))
    assert out.request is item.request and out.baseline is item.baseline


def test_repeated_ids_pair_first_in_first_out() -> None:
    first, second = exchange("/a", id="same"), exchange("/b", id="same")
    pairing = Pairing()
    pairing.send(first, second)
    for record in [request_record(first), request_record(second), baseline_record(first)]:
        pairing.echo(record)
    assert [item.request.target for item in pairing.echo(baseline_record(second))] == ["/b"]
    assert pairing.pairer.finish() == []


def test_a_baseline_not_echoed_within_hold_is_dropped_from_its_exchange() -> None:
    item = exchange()
    pairing = Pairing()
    pairing.send(item)
    pairing.echo(request_record(item), now=1.0)
    assert pairing.pairer.next_deadline() == 3.0
    assert pairing.pairer.expire(2.9) == []
    [out] = pairing.pairer.expire(3.0)
    assert (out.request, out.baseline, out.baseline_latency) == (item.request, None, None)
    assert pairing.stats.baselines_dropped == 1


def test_a_request_not_echoed_is_dropped_after_forget_after_or_at_the_end() -> None:
    early, late = exchange("/a"), exchange("/b")
    pairing = Pairing()
    pairing.send(early, now=0.0)
    pairing.send(late, now=10.0)
    assert pairing.pairer.expire(30.0) == []
    assert (pairing.stats.dropped, pairing.pairer.pending) == (1, 1)
    assert pairing.pairer.finish() == []
    assert pairing.stats.dropped == 2


def test_an_echoed_request_never_sent_is_a_new_exchange_with_a_response_of_its_id() -> None:
    pairing = Pairing()
    request = GorRecord(REQUEST, "new", 100, 0, make_request(target="/new").to_bytes())
    response = GorRecord(RESPONSE, "new", 130, 0, make_response(201).to_bytes())
    assert pairing.echo(response, now=0.0) == []
    [added] = pairing.echo(request, now=1.0)
    assert (added.id, added.request.target, added.timestamp) == ("new", "/new", 100)
    assert added.baseline is not None and added.baseline.status == 201
    assert added.baseline_latency == 30
    assert pairing.stats.added == 1
    assert pairing.echo(request, now=2.0) == []  # the response may still follow
    [alone] = pairing.pairer.expire(4.0)
    assert alone.baseline is None and pairing.stats.baselines_dropped == 0


def test_a_response_nobody_claims_within_hold_is_unpaired() -> None:
    pairing = Pairing()
    pairing.echo(GorRecord(RESPONSE, "lost", 1, 0, make_response().to_bytes()), now=0.0)
    pairing.pairer.expire(2.0)
    assert pairing.stats.unpaired == 1


def test_an_echoed_payload_that_is_not_http_drops_its_exchange() -> None:
    item = exchange()
    pairing = Pairing()
    pairing.send(item)
    pairing.echo(GorRecord(REQUEST, item.id, 0, 0, b"garbage"))
    assert pairing.echo(baseline_record(item)) == []
    assert pairing.echo(GorRecord(7, item.id, 0, 0, b"")) == []
    assert (pairing.stats.malformed, pairing.pairer.pending, len(pairing.problems)) == (2, 0, 2)


# --- real middlewares, bare protocol ---------------------------------------------------------


def test_everything_echoed_goes_on_unchanged() -> None:
    sent = [exchange(f"/items/{n}", timestamp=n, baseline_latency=7) for n in range(20)]
    sent.append(exchange("/no-baseline", status=0))
    out, stats = run(command("raw.py", "echo"), sent)
    assert by_id(out) == by_id(sent)
    assert stats.sent == {REQUEST: 21, RESPONSE: 20} == stats.echoed
    assert (stats.dropped, stats.added, stats.malformed, stats.baselines_dropped) == (0, 0, 0, 0)


def test_a_request_not_echoed_is_dropped() -> None:
    sent = [exchange("/keep"), exchange("/skip/this"), exchange("/keep/too")]
    out, stats = run(command("raw.py", "skip"), sent)
    assert sorted(item.request.target for item in out) == ["/keep", "/keep/too"]
    assert stats.dropped == 1


def test_a_modified_request_replaces_the_original() -> None:
    sent = [exchange("/a"), exchange("/b", status=0)]
    out, _ = run(command("raw.py", "header"), sent)
    for before, after in zip(sent, sorted(out, key=lambda item: item.request.target), strict=True):
        assert after.request.header("X-Middleware") == "raw"
        assert after.request.headers == (("X-Middleware", "raw"), *before.request.headers)
        assert after.request.body == before.request.body
        assert after.baseline == before.baseline


def test_an_extra_message_is_a_new_exchange() -> None:
    sent = [exchange("/extra", id="e1"), exchange("/plain")]
    out, stats = run(command("raw.py", "extra"), sent)
    added = by_id(out)["added-e1"]
    assert (added.request.target, added.timestamp, added.baseline_latency) == ("/added", 5, 2)
    assert added.baseline is not None and added.baseline.status == 204
    assert set(by_id(out)) == {"e1", sent[1].id, "added-e1"}
    assert stats.added == 1


def test_lines_that_are_not_messages_are_counted_and_skipped() -> None:
    sent = [exchange("/a"), exchange("/b")]
    out, stats = run(command("raw.py", "noise"), sent)
    assert by_id(out) == by_id(sent)
    assert stats.malformed == 12  # three lines before each of four echoes


# --- the gor package, as seed 002 uses it ----------------------------------------------------


def test_a_gor_package_middleware_sees_request_response_and_replay_of_each_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "compare.log"
    monkeypatch.setenv("SHADOWDIFF_COMPARE_LOG", str(log))
    sent = [exchange(f"/items/{n}", id=f"{n:024x}") for n in range(10)]
    replayed: list[GorRecord] = []
    stats = MiddlewareStats()

    async def main() -> list[Exchange]:
        out = []
        async with Middleware(command("gor_compare.py")) as middleware:
            stage = through_middleware(middleware, source(sent), stats, on_replayed=replayed.append)
            async for item in stage:
                status = 500 if item.request.target == "/items/3" else 200
                candidate = make_response(status, json={"target": item.request.target})
                await send_replayed(middleware, item.id, 1, 2, candidate.to_bytes(), stats)
                out.append(item)
        return out

    out = asyncio.run(main())
    assert by_id(out) == by_id(sent)
    verdicts = {3: "differs 200 500"}
    expected = [f"{n:024x} /items/{n} {verdicts.get(n, 'same 200 200')}" for n in range(10)]
    assert sorted(log.read_text().splitlines()) == expected
    assert sorted(record.id for record in replayed) == sorted(by_id(sent))
    assert stats.sent == {REQUEST: 10, RESPONSE: 10, REPLAYED: 10} == stats.echoed


def test_requests_not_echoed_keep_the_input_open_only_for_hold_seconds() -> None:
    sent = [exchange("/keep"), exchange("/skip/this")]
    stats = MiddlewareStats()
    replayed: list[GorRecord] = []

    async def main() -> list[Exchange]:
        out = []
        async with Middleware(command("raw.py", "skip")) as middleware:
            stage = through_middleware(middleware, source(sent), stats, 0.3, 30.0, replayed.append)
            async for item in stage:
                await send_replayed(middleware, item.id, 1, 2, b"HTTP/1.1 200 OK\r\n\r\n")
                out.append(item)
        return out

    started = time.monotonic()
    assert [item.request.target for item in asyncio.run(main())] == ["/keep"]
    assert time.monotonic() - started < 2.0
    assert stats.dropped == 1 and [record.id for record in replayed] == [sent[0].id]


def test_skipped_replays_let_the_middleware_finish_at_once() -> None:
    """Without skip_replayed, its input would stay open for forget_after (30 s)."""
    sent = [exchange(f"/items/{n}") for n in range(3)]
    replayed: list[GorRecord] = []

    async def main() -> float:
        async with Middleware(command("raw.py", "echo")) as middleware:
            stats = MiddlewareStats()
            stage = through_middleware(middleware, source(sent), stats, 2.0, 30.0, replayed.append)
            async for item in stage:
                skip_replayed(middleware, item.id)
                last_skip = time.monotonic()
        return time.monotonic() - last_skip

    assert asyncio.run(main()) < 1.0
    assert replayed == []


# --- big bodies --------------------------------------------------------------------------------

FIVE_MB = 5 * 1024 * 1024
randbytes = Random(1).randbytes


@pytest.mark.parametrize(
    ("script", "text"),
    [("raw.py echo", False), ("gor_echo.py", True)],
    ids=["raw", "gor-package"],  # gor 0.2.3 drops payloads that are not UTF-8: text for it
)
def test_a_5_mb_body_comes_back_byte_for_byte(script: str, text: bool) -> None:
    body = (b'{"key": "value \xc3\xa9"},\n' * FIVE_MB)[:FIVE_MB] if text else randbytes(FIVE_MB)
    big = make_exchange(
        make_request("POST", "/upload", body=body), make_response(body=body.upper())
    )
    out, _ = run(command(*script.split(" ")), [big, exchange()])
    [back] = [item for item in out if item.id == big.id]
    assert back.request.to_bytes() == big.request.to_bytes()
    assert back.baseline is not None and big.baseline is not None
    assert back.baseline.to_bytes() == big.baseline.to_bytes()


# --- failures --------------------------------------------------------------------------------


def test_a_middleware_that_exits_non_zero_fails_after_what_it_echoed() -> None:
    cmd = command("exit_after.py", "2", "3")
    out: list[Exchange] = []
    sent = [exchange(f"/items/{n}", status=0) for n in range(5)]
    with pytest.raises(MiddlewareError, match="exited with status 3") as failure:
        run(cmd, sent, out)
    assert str(failure.value).startswith(f"--middleware {cmd!r}: ")
    assert [item.id for item in out] == [item.id for item in sent[:2]]


def test_a_middleware_that_stops_reading_is_killed_after_the_stall_timeout() -> None:
    sent = [make_exchange(make_request("POST", "/big", body=b"x" * 1_000_000)) for _ in range(3)]
    codes: list[int | None] = []

    async def main() -> None:
        middleware = Middleware(command("stall.py"), stall_timeout=1.0)
        try:
            async with middleware:
                async for _ in through_middleware(middleware, source(sent), MiddlewareStats()):
                    pass
        finally:
            codes.append(middleware.returncode)

    started = time.monotonic()
    with pytest.raises(MiddlewareError, match=r"stall\.py': stopped reading its input for 1s"):
        asyncio.run(main())
    assert time.monotonic() - started < 4.0
    assert codes == [-signal.SIGKILL]


def test_a_command_that_does_not_exist_cannot_start() -> None:
    missing = "/nonexistent/middleware --flag"
    expected = f"--middleware {missing!r}: cannot start: No such file or directory"
    with pytest.raises(MiddlewareError, match=f"^{re.escape(expected)}$"):
        run(missing, [exchange()])


def test_the_command_is_split_on_single_spaces_without_a_shell(tmp_path: Path) -> None:
    script = tmp_path / "argv.py"
    script.write_text(
        "import sys, pathlib\nsys.stdin.read()\n"
        "pathlib.Path(sys.argv[1]).write_text(repr(sys.argv[2:]))\n"
    )
    out_file = tmp_path / "argv.txt"
    run(f"{sys.executable} {script} {out_file} 'a  b' $HOME", [])
    assert out_file.read_text() == repr(["'a", "", "b'", "$HOME"])
