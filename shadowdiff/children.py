"""Child processes that end with their parent: a capture must never outlive the command
that started it (a `tee` killed with SIGKILL left its `record` child and dumpcap capturing
an idle port for good)."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """For `preexec_fn`: the kernel sends this process SIGTERM when its parent dies (its
    own SIGTERM handling then stops it cleanly)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
