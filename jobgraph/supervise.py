"""The local streaming graph's launcher: one process per job, watched.

A job that exits with an error (a crash, a lost Pub/Sub connection) or a signal is restarted
with exponential backoff, saying which job and how it ended, or, with `restart=False`, the whole
graph stops with a non-zero exit naming the job. While a job keeps failing (Pub/Sub down for a
while), restarts slow down to one every MAX_BACKOFF_S and the launcher says so once a minute.
A job that exits 0 is done (on Dataflow the local process only submits the job) and stays so;
the launcher returns when every job is done.
"""
from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from typing import Callable, Sequence

FIRST_BACKOFF_S = 2.0
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 120.0   # a job that ran this long starts again from the first backoff
REPORT_EVERY_S = 60.0    # at most one line per job per minute about repeated restarts


class JobExited(RuntimeError):
    """A supervised job exited and the policy is to stop the graph."""


@dataclasses.dataclass
class _Job:
    name: str
    command: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    last_report: float | None = None
    restarts_unreported: int = 0
    finished: bool = False  # exited 0: done (a remote job submitted), not restarted


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Run `commands` (job name -> argv) until stopped; see the module doc."""

    def __init__(self, commands: dict[str, Sequence[str]], restart: bool = True,
                 say: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.jobs = [_Job(name, list(argv), backoff_s=FIRST_BACKOFF_S) for name, argv in commands.items()]
        self.restart = restart
        self.say = say or (lambda line: print(f"klio: {line}", file=sys.stderr, flush=True))
        self.clock = clock
        self._stopping = False

    def run(self, poll_s: float = 0.5) -> None:
        for job in self.jobs:
            self._start(job)
        try:
            while not self._stopping and not all(job.finished for job in self.jobs):
                for job in self.jobs:
                    self._watch(job)
                time.sleep(poll_s)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping = True
        for job in self.jobs:
            if job.proc is not None and job.proc.poll() is None:
                job.proc.terminate()
        for job in self.jobs:
            if job.proc is not None:
                try:
                    job.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.proc.kill()

    def _start(self, job: _Job) -> None:
        job.proc = subprocess.Popen(job.command)
        job.started_at, job.restart_at = self.clock(), None

    def _watch(self, job: _Job) -> None:
        now = self.clock()
        if job.restart_at is not None:
            if now >= job.restart_at:
                self._start(job)
            return
        if job.finished:
            return
        code = job.proc.poll()
        if code is None:
            return
        if code == 0:
            job.finished = True
            return
        if not self.restart:
            raise JobExited(f"job {job.name} {describe_exit(code)}; stopped the graph")
        if now - job.started_at >= STABLE_AFTER_S:
            job.backoff_s = FIRST_BACKOFF_S
        job.restart_at = now + job.backoff_s
        job.restarts_unreported += 1
        if job.last_report is None or now - job.last_report >= REPORT_EVERY_S:
            again = (f" ({job.restarts_unreported} restarts since the last report)"
                     if job.restarts_unreported > 1 else "")
            self.say(f"job {job.name} {describe_exit(code)}; restarting in {job.backoff_s:.0f} s{again}")
            job.last_report, job.restarts_unreported = now, 0
        job.backoff_s = min(job.backoff_s * 2, MAX_BACKOFF_S)
