"""Where the bundled sample traffic and rules live, installed or in a checkout.

A wheel carries copies inside the package (hatch force-include puts `sample_traffic/` and
`rules/` under `shadowdiff/samples/`); an editable install or a checkout uses the repo root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE.parents[1]


def _bundled(name: str) -> Path:
    packaged = _PACKAGE / name
    return packaged if packaged.is_dir() else _REPO_ROOT / name


def sample_traffic_dir() -> Path:
    """The directory holding sample.gor (recorded traffic of the baseline build)."""
    return _bundled("sample_traffic")


def sample_rules_dir() -> Path:
    """The directory holding the rules files for the sample service."""
    return _bundled("rules")
