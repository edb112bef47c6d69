"""The redaction key of a store, and the Redaction a run applies before anything is stored.

The key is `SHADOWDIFF_REDACT_KEY` (hex) when set, else 32 random bytes kept beside the store
in `<db>.redact-key` (mode 0600), made on first use. It never goes into the database, and it
stays the same across runs, so equal secrets give equal tokens from one night to the next.
"""

from __future__ import annotations

import os
from pathlib import Path

from shadowdiff.errors import EnvironmentProblem, InputError
from shadowdiff.redact import Redaction
from shadowdiff.rules import RuleSet

KEY_VARIABLE = "SHADOWDIFF_REDACT_KEY"


def redaction_for(db_path: Path, rules: RuleSet) -> Redaction:
    defaults = rules.defaults
    return Redaction(
        store_key(db_path),
        frozenset(name.lower() for name in defaults.redact_headers),
        defaults.redact_paths,
    )


def store_key(db_path: Path) -> bytes:
    if value := os.environ.get(KEY_VARIABLE):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise InputError(f"{KEY_VARIABLE}: expected hex digits") from None
    path = db_path.with_name(db_path.name + ".redact-key")
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return _new_key(path)
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"{path}: unreadable redaction key ({exc})") from None


def _new_key(path: Path) -> bytes:
    """Write the key to a file of its own, then link it into place: the key file appears
    whole or not at all, so processes starting together (a worker pool) never read it half
    written; the first link wins and the others read the winner's key."""
    key = os.urandom(32)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key.hex() + "\n")
        os.link(draft, path)
    except FileExistsError:  # another process made it first: use theirs
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: cannot write the redaction key ({exc})") from None
    finally:
        draft.unlink(missing_ok=True)
    return key
