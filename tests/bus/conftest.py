"""A real redis-server for the bus tests: started on a free port of 127.0.0.1 in a temp
dir, killed at the end (never a system service). No redis-server: the tests fail (CI
installs it: scripts/test.sh), they do not skip."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
import redis

from shadowdiff.bus.url import BusUrl, parse_bus_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """redis-server on 127.0.0.1:`port`, data in `directory`. `persistent`: an append-only
    file synced at every write, so a restart keeps the streams and groups (a production
    Redis would persist; without it a restart loses everything not yet acknowledged)."""

    def __init__(self, directory: Path, persistent: bool = False) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.directory, self.persistent = binary, directory, persistent
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, stream: str, **query: object) -> str:
        extra = "".join(f"&{key}={value}" for key, value in query.items())
        return f"redis://127.0.0.1:{self.port}/0?stream={stream}{extra}"

    def bus(self, stream: str) -> BusUrl:
        return parse_bus_url(self.url(stream), "test")

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        command = [
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.directory), *persistence,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.ConnectionError:
                time.sleep(0.02)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it (SIGKILL: Redis goes away as a crashed host would)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the session; each test uses streams of its own names."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
