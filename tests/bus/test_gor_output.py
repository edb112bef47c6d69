"""`shadowdiff gor ... --output-redis URL`: a GoReplay command line publishing to the bus."""

from __future__ import annotations

from pathlib import Path

from tests.bus.conftest import RedisServer
from tests.bus.helpers import write_recording
from tests.conftest import run_cli


def test_a_gor_command_line_publishes_to_a_stream(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    ids = write_recording(tmp_path / "in.gor", "g", 30)
    url = redis_server.url("gor-out")
    done = run_cli("gor", "--input-file", str(tmp_path / "in.gor|1000%"), "--output-redis", url)
    assert done.returncode == 0, done.stderr
    exported = run_cli("segment", "list", "--bus", url)  # the stream is there and readable
    assert exported.returncode == 0, exported.stderr
    assert redis_server.client().xlen("gor-out") == len(ids) == 30


def test_a_bad_output_redis_url_is_one_line(tmp_path: Path) -> None:
    write_recording(tmp_path / "in.gor", "g", 1)
    done = run_cli("gor", "--input-file", str(tmp_path / "in.gor"), "--output-redis", "nope")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--output-redis" in done.stderr
