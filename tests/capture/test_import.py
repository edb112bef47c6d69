"""`shadowdiff import`: pcap/pcapng through real tshark (pyshark FileCapture), and HAR."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shadowdiff.errors import InputError
from shadowdiff.exchange import Request, Response
from shadowdiff.gorfile import read_gor
from shadowdiff.har import read_har
from tests.conftest import REPO, run_cli

REAL = REPO.parent / "shared" / "testdata" / "real" / "capture_test.pcapng"
if not REAL.exists():  # CI clones main with shared/ beside it; a developer checkout too
    REAL = Path("/work/shared/testdata/real/capture_test.pcapng")


def records(path: Path) -> list:  # type: ignore[type-arg]
    return list(read_gor(path, on_problem=lambda p: pytest.fail(str(p))))


def test_the_real_router_capture_imports_exactly(tmp_path: Path) -> None:
    out = tmp_path / "router.gor"
    done = run_cli("import", str(REAL), "-o", str(out), strict=False)
    assert done.returncode == 0, done.stderr
    assert "imported 1 exchanges" in done.stdout and "lost 0" in done.stdout
    request, response = records(out)
    assert (request.type, response.type, request.id) == (1, 2, response.id)
    assert request.payload == (
        b"GET / HTTP/1.1\r\nHost: 172.16.253.20\r\n"
        b"User-Agent: python-requests/2.2.1 CPython/3.4.0 Windows/7\r\n"
        b"Accept-Encoding: gzip, deflate, compress\r\nAccept: */*\r\n\r\n"
    )
    answer = Response.parse(response.payload)
    assert (answer.version, answer.status, answer.header("Connection")) == ("1.0", 401, "close")
    assert answer.body.endswith(b"</BODY></HTML>\n")  # the body ended at the server's FIN
    assert len(response.payload) == 307  # every byte the router sent
    assert request.timestamp == 1_396_230_606_902_279_000  # ns, no float rounding
    assert len(request.id) == 24


def test_a_file_tshark_cannot_read_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1 this is not a capture at all" * 10)
    existing = tmp_path / "x.gor"
    existing.write_bytes(b"an older recording")
    done = run_cli("import", str(bad), "-o", str(existing), strict=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.pcap: tshark cannot read it" in lines[0]
    assert existing.read_bytes() == b"an older recording"  # nothing clobbered
    assert list(tmp_path.iterdir()) == [bad, existing] or sorted(tmp_path.iterdir()) == sorted(
        [bad, existing]
    )


def har_entry(url: str, status: int = 200, text: str = '{"ok": true}', **extra: object) -> dict:  # type: ignore[type-arg]
    return {
        "startedDateTime": "2026-11-21T10:00:00.123456Z",
        "time": 12.5,
        "request": {
            "method": "POST" if "postData" in extra else "GET",
            "url": url,
            "httpVersion": "HTTP/2.0",
            "headers": [
                {"name": ":authority", "value": "api.example.com"},
                {"name": "accept", "value": "application/json"},
                {"name": "content-length", "value": "999"},
            ],
            "postData": extra.get("postData"),
        },
        "response": {
            "status": status,
            "statusText": "OK",
            "headers": [
                {"name": "content-type", "value": "application/json"},
                {"name": "content-encoding", "value": "gzip"},
            ],
            "content": {"text": text, **({"encoding": "base64"} if extra.get("b64") else {})},
        },
    }


def test_har_entries_become_replayable_records(tmp_path: Path) -> None:
    har = tmp_path / "session.har"
    entries = [
        har_entry("https://api.example.com/users/7?x=1"),
        har_entry("https://api.example.com/cart", postData={"text": '{"sku": 1}'}),
        har_entry(
            "https://api.example.com/img", text=base64.b64encode(b"\x89PNG").decode(), b64=True
        ),
        har_entry("https://api.example.com/never", status=0),
    ]
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    out = tmp_path / "session.gor"
    done = run_cli("import", str(har), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "imported 4 HAR entries" in done.stdout and "1 without a response" in done.stdout
    found = records(out)
    assert [r.type for r in found] == [1, 2, 1, 2, 1, 2, 1]
    first = Request.parse(found[0].payload)
    assert (first.method, first.target, first.header("Host")) == (
        "GET",
        "/users/7?x=1",
        "api.example.com",
    )
    assert first.header("content-length") is None  # no body: the HAR's stale length is gone
    post = Request.parse(found[2].payload)
    assert post.body == b'{"sku": 1}' and post.header("Content-Length") == "10"
    answer = Response.parse(found[1].payload)
    assert answer.json() == {"ok": True} and answer.header("Content-Encoding") is None
    assert Response.parse(found[5].payload).body == b"\x89PNG"
    assert found[1].timestamp - found[0].timestamp == 12_500_000


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not a HAR file"), ('{"log": {}}', "no log.entries")],
)
def test_bad_har_is_an_input_error(tmp_path: Path, content: str, message: str) -> None:
    har = tmp_path / "bad.har"
    har.write_text(content)
    with pytest.raises(InputError, match=message):
        list(read_har(har))
