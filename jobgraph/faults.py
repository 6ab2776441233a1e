"""Deterministic fault injection for crash tests: kill this process at a chosen point.

`JOBGRAPH_KILL_AFTER_TEMP_FILES=N` SIGKILLs the process right after its Nth temporary file is
created (before it is written and renamed), so the kill-mid-write case is reproduced on every
run instead of hoped for by timing. Unset in production: the check is one dict lookup.

`JOBGRAPH_WRITE_LOG=FILE` appends the path of every output written atomically to FILE, one
line per write (appends of one short line are atomic), so a crash benchmark can count outputs
written more than once across processes that were killed.
"""
from __future__ import annotations

import os
import signal
import threading

KILL_AFTER_TEMP_FILES = "JOBGRAPH_KILL_AFTER_TEMP_FILES"
WRITE_LOG = "JOBGRAPH_WRITE_LOG"

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


def output_written(path: str) -> None:
    """Record one completed output write when JOBGRAPH_WRITE_LOG is set."""
    log_path = os.environ.get(WRITE_LOG)
    if not log_path:
        return
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (path.replace("\n", " ") + "\n").encode("utf-8"))
    finally:
        os.close(fd)
