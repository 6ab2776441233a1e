"""A progress bar per job for batch runs on an in-process runner (FnApiRunner).

The DoFn counts elements reaching the job's event output. When the pipeline runs in this
process and stderr is a terminal (or KLIO_PROGRESS=1), it draws a tqdm bar; on remote workers
(Dataflow) it does nothing visible: there the job's counters play that role.
"""
from __future__ import annotations

import os
import sys
import threading

import apache_beam as beam

_BARS: dict[str, object] = {}
_LOCK = threading.Lock()


def _enabled() -> bool:
    if os.environ.get("KLIO_PROGRESS") in ("0", "1"):
        return os.environ["KLIO_PROGRESS"] == "1"
    return sys.stderr.isatty()


def _bar(job_name: str, total: int | None):
    from tqdm import tqdm

    with _LOCK:
        if job_name not in _BARS:
            _BARS[job_name] = tqdm(total=total, desc=job_name, unit=" elements", position=len(_BARS),
                                   leave=True, dynamic_ncols=True)
        return _BARS[job_name]


def close_all() -> None:
    with _LOCK:
        for bar in _BARS.values():
            bar.close()
        _BARS.clear()


class ShowProgress(beam.DoFn):
    def __init__(self, job_name: str, total: int | None = None):
        self.job_name, self.total = job_name, total

    def setup(self):
        self._bar = _bar(self.job_name, self.total) if _enabled() else None

    def process(self, element):
        if self._bar is not None:
            self._bar.update(1)
        yield element
