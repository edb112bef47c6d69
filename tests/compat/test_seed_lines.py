"""Every GoReplay command line of the seed documents runs through `shadowdiff gor`.

Each line is taken as written in the documents (tests/compat/test_flags.py holds them),
split as a shell would, and adapted to this machine only where it names a place: each port
it captures gets an origin server of its own, each target URL a server of its own, each
`--input-tcp` a free port fed by a real `shadowdiff gor --output-tcp`, each `--output-tcp` a
collector listening, each file a small recording in the line's own directory, and each
middleware path a middleware that echoes (seed 002's `python3 middleware.py` is the `gor`
package script in its pattern). All the lines run side by side; a line that runs until
stopped (a capture, a listener, a loop) gets Ctrl-C, as GoReplay's users stop it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from shadowdiff.gorfile import write_gor
from shadowdiff.testing import gor_records_for, make_exchange, make_request, make_response
from tests.capture.test_live import request, respond, talk
from tests.compat.test_flags import SEED_LINES
from tests.compat.test_gor import free_port
from tests.servers import RawServer

MIDDLEWARES = Path(__file__).parent.parent / "traffic" / "middlewares"
PY = sys.executable
URL = re.compile(r"^(?:https?://)?(?P<host>[\w.-]+)(?::(?P<port>\d+))?(?P<rest>\|.*)?$")
VALUE_FLAGS = {"--output-http", "--output-tcp", "--input-tcp", "--input-raw", "--input-file",
               "--middleware", "--output-file"}  # fmt: skip


@dataclass
class Line:
    text: str
    cwd: Path
    argv: list[str] = field(default_factory=list)
    origins: list[RawServer] = field(default_factory=list)
    targets: list[RawServer] = field(default_factory=list)
    listen: int | None = None
    child: subprocess.Popen[bytes] | None = None

    @property
    def runs_until_stopped(self) -> bool:
        return bool(self.origins or self.listen or "--input-file-loop" in self.argv)


def write_recordings(cwd: Path, names: list[str]) -> None:
    exchanges = [
        make_exchange(
            make_request(target=f"/api/{i}", headers=[("api-version", "1.01")]),
            make_response(json={"i": i}),
            timestamp=i * 10_000_000,
        )
        for i in range(3)
    ]
    for name in names:
        write_gor(cwd / name, gor_records_for(exchanges))


def adapt(line: Line, stack: ExitStack, collector: int) -> None:
    """The line's argv, with every place it names made local."""
    words = shlex.split(line.text, comments=True)
    words = words[[w.endswith("gor") for w in words].index(True) + 1 :]  # gor, ./gor, sudo
    files: list[str] = []
    i = 0
    while i < len(words):
        flag, _, inline = words[i].partition("=")
        if flag in VALUE_FLAGS:
            value = inline if inline else words[i + 1]
            local = local_value(flag, value, line, stack, collector, files)
            line.argv += [f"{flag}={local}"]
            i += 1 if inline else 2
        else:
            line.argv.append(words[i])
            i += 1
    write_recordings(line.cwd, files)
    line.argv += ["--db", str(line.cwd / "s.db")]


def local_value(
    flag: str, value: str, line: Line, stack: ExitStack, collector: int, files: list[str]
) -> str:
    if flag == "--input-raw":
        origin = stack.enter_context(RawServer(respond))
        line.origins.append(origin)
        return f":{origin.port}"
    if flag == "--output-http":
        target = stack.enter_context(RawServer(respond))
        line.targets.append(target)
        rate = URL.match(value)
        return target.url + ((rate["rest"] or "") if rate else "")
    if flag == "--output-tcp":
        rate = URL.match(value)
        return f"127.0.0.1:{collector}" + ((rate["rest"] or "") if rate else "")
    if flag == "--input-tcp":
        line.listen = free_port()
        return f"127.0.0.1:{line.listen}"
    if flag == "--input-file":
        files.append(value.partition("|")[0])
        return value
    if flag == "--middleware":
        return middleware_for(value, line.cwd)
    return value  # --output-file: a name in the line's directory


def middleware_for(value: str, cwd: Path) -> str:
    if value == "python3 middleware.py":  # seed 002: a script on the gor package
        shutil.copy(MIDDLEWARES / "gor_compare.py", cwd / "middleware.py")
        return f"{PY} middleware.py"
    return f"{PY} {MIDDLEWARES / 'raw.py'} echo"


def start(line: Line) -> None:
    env = {**os.environ, "SHADOWDIFF_COMPARE_LOG": str(line.cwd / "compare.log")}
    line.child = subprocess.Popen(
        [PY, "-m", "shadowdiff", "gor", *line.argv],
        cwd=line.cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def wait_ready(line: Line, deadline: float) -> None:
    """Until the line captures or listens (a line that does neither is ready at once)."""
    if not (line.origins or line.listen):
        return
    assert line.child is not None and line.child.stderr is not None
    seen = b""
    while time.monotonic() < deadline:
        text = line.child.stderr.readline()
        seen += text
        if b"capturing on" in text or b"listening on" in text:
            return
        if not text and line.child.poll() is not None:
            break
    raise AssertionError(f"{line.text}: not ready: {seen.decode(errors='replace')}")


def feed(line: Line, recording: Path) -> None:
    for origin in line.origins:
        talk(origin.port, [request(f"/api/{i}", port=origin.port) for i in range(3)])
    if line.listen is not None:
        subprocess.run(
            [PY, "-m", "shadowdiff", "gor", "--input-file", f"{recording}|1000%",
             "--output-tcp", f"127.0.0.1:{line.listen}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip


def test_every_seed_line_runs(tmp_path: Path) -> None:
    recording = tmp_path / "feed.gor"
    write_recordings(tmp_path, ["feed.gor"])
    collector_port = free_port()
    with ExitStack() as stack:
        collector = subprocess.Popen(
            [PY, "-m", "shadowdiff", "gor", "--input-tcp", f"127.0.0.1:{collector_port}",
             "--output-null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        lines = []
        for n, text in enumerate(SEED_LINES):
            cwd = tmp_path / f"line{n}"
            cwd.mkdir()
            line = Line(text, cwd)
            adapt(line, stack, collector_port)
            lines.append(line)
        for line in lines:
            start(line)
        deadline = time.monotonic() + 60
        for line in lines:
            wait_ready(line, deadline)
        for line in lines:
            feed(line, recording)
        time.sleep(2.0)  # captures deliver, middlewares echo, loops go round
        for line in lines:
            assert line.child is not None
            if line.runs_until_stopped:
                line.child.send_signal(signal.SIGINT)
        failures = []
        for line in lines:
            assert line.child is not None
            _, err = line.child.communicate(timeout=90)
            allowed = (0, 130) if "--input-file-loop" in line.argv else (0,)
            if line.child.returncode not in allowed or b"Traceback" in err:
                failures.append(f"{line.text}\n  -> {line.child.returncode}: {err.decode()[-600:]}")
        collector.send_signal(signal.SIGINT)
        collector.communicate(timeout=60)
    assert not failures, "\n".join(failures)
    sampled = re.compile(r"--output-http[= ]\"?[^ ]*\|")  # a share of 3 requests may be none
    replayed = [
        line
        for line in lines
        if line.targets and "allow" not in line.text and not sampled.search(line.text)
    ]
    assert len(replayed) == 20  # the lines that must reach their targets
    assert all(sum(len(t.received) for t in line.targets) > 0 for line in replayed), [
        line.text for line in replayed if not sum(len(t.received) for t in line.targets)
    ]
