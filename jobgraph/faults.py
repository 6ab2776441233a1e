"""Deterministic fault injection for crash tests: kill this process at a chosen point.

`JOBGRAPH_KILL_AFTER_TEMP_FILES=N` SIGKILLs the process right after its Nth temporary file is
created (before it is written and renamed), so the kill-mid-write case is reproduced on every
run instead of hoped for by timing. Unset in production: the check is one dict lookup.
"""
from __future__ import annotations

import os
import signal
import threading

KILL_AFTER_TEMP_FILES = "JOBGRAPH_KILL_AFTER_TEMP_FILES"

_lock = threading.Lock()
_temp_files_created = 0


def temp_file_created() -> None:
    """Count one temporary file; SIGKILL this process when the configured count is reached."""
    global _temp_files_created
    limit = os.environ.get(KILL_AFTER_TEMP_FILES)
    if not limit:
        return
    with _lock:
        _temp_files_created += 1
        reached = _temp_files_created >= int(limit)
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
