"""A progress bar per job for batch runs on an in-process runner (FnApiRunner).

The DoFn sits on the job's event output. When the pipeline runs in this process and stderr is a
terminal (or KLIO_PROGRESS=1), it draws a tqdm bar; on remote workers (Dataflow) it does nothing
visible: there the job's counters play that role.

A bar counts the job's finished elements: those that reached its event output (outputs and
pass-throughs) plus its dead letters, from the runtime's process-local counters
(jobgraph.steps.local_counts). Where the input is countable (IDs given, an ID file, a listing),
each bar has a total: the IDs its reader produces (`expect_totals` says which reader, the bar
counts them when first drawn), less the dead letters of the jobs before it (those elements
never reach it).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from jobgraph.config import GraphConfig, JobConfig
from jobgraph.steps import local_counts

_BARS: dict[str, "_JobBar"] = {}
_LOCK = threading.Lock()
_COUNT_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class _Plan:
    reader: JobConfig | None  # the job whose batch reader feeds this one; None: not countable
    upstream: tuple[str, ...]  # jobs before it in this pipeline: their dead letters never arrive


_PLANS: dict[str, _Plan] = {}
_SOURCE: dict[str, object] = {}  # the run's ids / ids_file
_INPUTS: dict[str, int | None] = {}  # reader job -> elements counted, once, when a bar first needs it
_BASE: dict[str, dict[str, int]] = {}  # the local counters when the run started (tests run several)


def _enabled() -> bool:
    if os.environ.get("KLIO_PROGRESS") in ("0", "1"):
        return os.environ["KLIO_PROGRESS"] == "1"
    return sys.stderr.isatty()


def _count(job_name: str, name: str) -> int:
    return local_counts().get(job_name, {}).get(name, 0) - _BASE.get(job_name, {}).get(name, 0)


def _is_id_line(line: bytes | str) -> bool:
    """Whether the batch reader makes an element of this line: as jobgraph.steps.IdsToMessages,
    blank lines are skipped and a line that is not UTF-8 is one (a dead letter)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return bool(line.lstrip("\ufeff").strip())


def _count_lines(pattern: str) -> int:
    total = 0
    for meta in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(meta.path) as fh:  # decompressed as ReadFromText does (by suffix)
            total += sum(1 for line in iter(fh.readline, b"") if _is_id_line(line))
    return total


def count_inputs(job: JobConfig, ids: list[str] | None, ids_file: str | None) -> int | None:
    """How many elements `job`'s batch reader will produce (jobgraph.eventio.read_batch_events):
    the IDs given, the ID lines of a file, or the objects of a listing; None if unknown."""
    if ids is not None:
        return sum(1 for i in ids if _is_id_line(i))
    if ids_file is not None:
        return _count_lines(ids_file)
    io = job.event_input(streaming=False)
    if io is None:
        return None
    if io.type == "file":
        return _count_lines(io.location)
    location = io.location or (job.data_input.location if job.data_input else None)
    suffix = io.file_suffix or (job.data_input.file_suffix if job.data_input and not io.location else "")
    if not location:
        return None
    return len(FileSystems.match([f"{location.rstrip('/')}/*{suffix}"])[0].metadata_list)


def expect_totals(graph: GraphConfig, job_name: str | None, ids: list[str] | None = None,
                  ids_file: str | None = None, streaming: bool = False) -> None:
    """Before a batch run: which reader feeds each job's bar. Nothing is read here: the input
    is counted when a bar is first drawn, so a remote run (no bar) lists nothing twice. With
    `job_name`, that job reads the IDs and its ancestors (the bottom-up fill) only see the
    missing ones: their bars have no total."""
    for registry in (_PLANS, _SOURCE, _INPUTS, _BASE):
        registry.clear()
    if streaming or not _enabled():
        return
    _SOURCE.update(ids=ids, ids_file=ids_file)
    _BASE.update(local_counts())
    for job in graph.topological():
        ancestors, parent = [], graph.parent(job.job_name)
        while parent is not None:
            ancestors.append(parent.job_name)
            parent = graph.parent(parent.job_name)
        if job_name:  # that job reads the IDs; the fill before it sees only the missing ones
            reader = job if job.job_name == job_name else None
        else:  # the roots read; every other job gets its root's elements
            reader = graph.job(ancestors[-1]) if ancestors else job
        _PLANS[job.job_name] = _Plan(reader, tuple(ancestors))


def _inputs(reader: JobConfig) -> int | None:
    with _COUNT_LOCK:  # bars of several threads may ask at once; the input is read once
        if reader.job_name not in _INPUTS:
            try:
                _INPUTS[reader.job_name] = count_inputs(reader, _SOURCE.get("ids"), _SOURCE.get("ids_file"))
            except (OSError, ValueError):  # unreadable now: the run itself will say so
                _INPUTS[reader.job_name] = None
        return _INPUTS[reader.job_name]


class _JobBar:
    """One tqdm bar: finished elements of a job, against its expected total where known."""

    def __init__(self, job_name: str, total: int | None, position: int):
        from tqdm import tqdm

        self.job_name, self.fixed_total = job_name, total
        self.lock = threading.Lock()  # bundles may run in several threads
        self.bar = tqdm(total=self._total(), desc=job_name, unit=" elements", position=position,
                        leave=True, dynamic_ncols=True)

    def _total(self) -> int | None:
        if self.fixed_total is not None:
            return self.fixed_total
        plan = _PLANS.get(self.job_name)
        inputs = _inputs(plan.reader) if plan is not None and plan.reader is not None else None
        if inputs is None:
            return None
        return inputs - sum(_count(job, "dead-letter") for job in plan.upstream)

    def refresh(self) -> None:
        with self.lock:
            dead = _count(self.job_name, "dead-letter")
            self.bar.total = self._total()
            if dead:
                self.bar.set_postfix_str(f"{dead} dead-lettered", refresh=False)
            self.bar.update(_count(self.job_name, "kmsg-output") + dead - self.bar.n)


def _bar(job_name: str, total: int | None) -> _JobBar:
    with _LOCK:
        if job_name not in _BARS:
            _BARS[job_name] = _JobBar(job_name, total, len(_BARS))
        return _BARS[job_name]


def close_all() -> None:
    """Bring every bar up to date (dead letters may come after the last output), close them."""
    with _LOCK:
        for bar in _BARS.values():
            bar.refresh()
            bar.bar.close()
        _BARS.clear()


class ShowProgress(beam.DoFn):
    def __init__(self, job_name: str, total: int | None = None):
        self.job_name, self.total = job_name, total

    def setup(self):
        self._bar = _bar(self.job_name, self.total) if _enabled() else None

    def process(self, element):
        if self._bar is not None:
            self._bar.refresh()
        yield element
