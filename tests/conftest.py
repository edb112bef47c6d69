import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from shadowdiff.samples.service import SampleService
from shadowdiff.store import open_store

REPO = Path(__file__).resolve().parents[1]
SAMPLE_GOR = REPO / "sample_traffic" / "sample.gor"
RULES = REPO / "rules"
SEPARATOR = "\n🐵🙈🙉\n".encode()


def sample_records() -> list[bytes]:
    """The records of the bundled recording (meta line + payload, no separator)."""
    return SAMPLE_GOR.read_bytes().split(SEPARATOR)[:-1]


def framed(records: list[bytes]) -> bytes:
    """Records back into .gor bytes."""
    return b"".join(record + SEPARATOR for record in records)


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 60,
    strict: bool = True,
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real command line, in a child process (no TTY: plain output). `strict` turns
    ResourceWarnings into errors; commands that run pyshark pass False, because pyshark 0.6
    leaves its EK field-mapping cache file open (ek_field_mapping.py, `json.load(open())`)."""
    env = {**os.environ, "PYTHONWARNINGS": "error::ResourceWarning"} if strict else None
    if env_extra:
        env = {**(env or os.environ), **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "shadowdiff", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def baseline_service() -> Iterator[SampleService]:
    with SampleService("baseline") as service:
        yield service


@pytest.fixture(scope="session")
def candidate_service() -> Iterator[SampleService]:
    with SampleService("candidate") as service:
        yield service


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh store in a real SQLite file."""
    store = open_store(tmp_path / "shadowdiff.db")
    yield store
    store.close()
