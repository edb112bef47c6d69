"""A GoReplay middleware on the bare protocol, no library: `raw.py MODE`.

echo: echo everything; skip: drop requests whose path contains /skip (by not echoing them);
header: add `X-Middleware: raw` to every request; extra: after a request to /extra, emit a
new request and its response with the id `added-<id>`; noise: also write three lines that
are not messages (not hex, odd length, a meta line of 2 fields) before each echo.
"""

import sys

MODE = sys.argv[1]


def emit(meta: bytes, payload: bytes) -> None:
    sys.stdout.write((meta + b"\n" + payload).hex() + "\n")
    sys.stdout.flush()


for line in sys.stdin.buffer:
    meta, _, payload = bytes.fromhex(line.decode().strip()).partition(b"\n")
    kind, id_, *rest = meta.split(b" ")
    target = payload.split(b" ", 2)[1] if kind == b"1" else b""
    if MODE == "skip" and b"/skip" in target:
        continue
    if MODE == "header" and kind == b"1":
        first_line, _, more = payload.partition(b"\r\n")
        payload = first_line + b"\r\nX-Middleware: raw\r\n" + more
    if MODE == "noise":
        sys.stdout.write("zz\n123\n" + b"1 x\nGET".hex() + "\n")
    emit(meta, payload)
    if MODE == "extra" and target == b"/extra":
        added = b"added-" + id_
        emit(b"1 " + added + b" 5 0", b"GET /added HTTP/1.1\r\nHost: x\r\n\r\n")
        emit(b"2 " + added + b" 7 0", b"HTTP/1.1 204 No Content\r\n\r\n")
