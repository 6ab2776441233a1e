"""The end-of-run summary: per job, what was done, skipped and dead-lettered (by reason), how
fast (elements per hour of the run's wall time), and where this run's files are.

    summary_document(summary)           the --summary-json document (also written while streaming)
    run_files(jobs, run_id)             per job: data outputs, this run's event and dead-letter files
    print_summary(summary, graph, job)  the table and the lines under it
"""
from __future__ import annotations

import os
import time

from apache_beam.io.filesystems import FileSystems
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jobgraph.config import GraphConfig, JobConfig

_ROWS = [
    ("received", "kmsg-received"),
    ("processed ok", "kmsg-success"),
    ("skipped: output exists", "kmsg-skip-force"),
    ("skipped: ping", "kmsg-skip-ping"),
    ("forced", "kmsg-process-force"),
    ("dropped: not a recipient", "kmsg-drop-not-recipient"),
    ("triggered parent", "kmsg-trigger-upstream"),
    ("event output", "kmsg-output"),
    ("dead-lettered", "dead-letter"),
]
PER_HOUR_ROW = "processed per hour"


def summary_rows(counters: dict[str, int]) -> list[tuple[str, int]]:
    rows = [(label, counters.get(name, 0)) for label, name in _ROWS]
    rows += [(f"  dead letter: {name.split(':', 1)[1]}", value)
             for name, value in sorted(counters.items()) if name.startswith("dead-letter:")]
    return rows


def elements_per_hour(counters: dict[str, int], elapsed_s: float) -> float | None:
    """A job's outputs (`kmsg-success`: elements its transforms carried to an output; skipped
    and dead-lettered ones excluded) per hour of the run's wall time; None before any time."""
    if elapsed_s <= 0:
        return None
    return round(counters.get("kmsg-success", 0) * 3600.0 / elapsed_s, 1)


def _matching(pattern: str) -> list[str]:
    try:
        return sorted(meta.path for meta in FileSystems.match([pattern])[0].metadata_list)
    except Exception:  # noqa: BLE001 - an unreadable location lists nothing; the run said why
        return []


def run_files(jobs: list[JobConfig], run_id: str) -> dict[str, dict]:
    """job -> {"outputs": "{location}/*{suffix}" (the data outputs, this run's among them),
    "events": [this run's event files], "dead_letters": [this run's dead-letter files]}, for a
    batch run (its files are named `{run_id}-*`: jobgraph.eventio)."""
    from jobgraph.eventio import default_dead_letter_location

    out = {}
    for job in jobs:
        events = job.event_output(streaming=False)
        dead = job.dead_letter(streaming=False)
        dead_location = dead.location if dead is not None and dead.location else \
            default_dead_letter_location(job)
        data = job.data_output
        out[job.job_name] = {
            "outputs": f"{data.location.rstrip('/')}/*{data.file_suffix}" if data is not None else None,
            "events": _matching(f"{events.location.rstrip('/')}/{run_id}-*")
            if events is not None and events.location else [],
            "dead_letters": _matching(f"{dead_location.rstrip('/')}/{run_id}-*")}
    return out


def run_outcome(jobs: list[JobConfig], run_id: str, started: float, listed: bool) -> dict:
    """RunSummary's `elapsed_s` (since `started`, a time.monotonic() value) and `files`
    (`run_files`, where `listed`: a batch run that was waited for)."""
    return {"elapsed_s": time.monotonic() - started, "files": run_files(jobs, run_id) if listed else {}}


def summary_document(summary) -> dict:
    """The run as JSON (pipeline.RunSummary): state, run_id, elapsed_s, counters,
    distributions, elements_per_hour {job: float | None} and files (`run_files`)."""
    elapsed = summary.elapsed_s
    return {"state": summary.state, "run_id": summary.run_id, "elapsed_s": round(elapsed, 3),
            "counters": summary.counters, "distributions": summary.distributions,
            "elements_per_hour": {job: elements_per_hour(counters, elapsed)
                                  for job, counters in summary.counters.items()},
            "files": summary.files}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _shown(path: str) -> str:
    """A local path relative to the working directory when it lies below it (shorter to read)."""
    if "://" in path or not os.path.isabs(path):
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _file_lines(files: dict[str, dict], jobs: list[str]) -> list[str]:
    lines = []
    for name in jobs:
        entry = files.get(name)
        if not entry:
            continue
        events = ", ".join(_shown(p) for p in entry["events"]) or "none"
        dead = ", ".join(_shown(p) for p in entry["dead_letters"]) or "none"
        lines.append(f"{name}: outputs {_shown(entry['outputs'] or '-')}; events {events}; "
                     f"dead letters {dead}")
    return lines


def print_summary(summary, graph: GraphConfig, job_name: str | None, console: Console | None = None) -> None:
    console = console or Console(stderr=False)
    jobs = [j.job_name for j in graph.topological()]
    jobs = [j for j in jobs if j in summary.counters or j == job_name]
    table = Table(title=f"klio job run: {summary.state}")
    table.add_column("")
    for name in jobs:
        table.add_column(name, justify="right")
    labels: list[str] = []
    for name in jobs:
        for label, _ in summary_rows(summary.counters.get(name, {})):
            if label not in labels:
                labels.append(label)
    for label in labels:
        values = [dict(summary_rows(summary.counters.get(n, {}))).get(label, 0) for n in jobs]
        table.add_row(label, *[str(v) for v in values])
    elapsed = summary.elapsed_s
    if elapsed > 0:
        rates = [elements_per_hour(summary.counters.get(n, {}), elapsed) for n in jobs]
        table.add_row(PER_HOUR_ROW, *[f"{r:,.0f}" if r is not None else "-" for r in rates])
    console.print(table)
    head = f"run {summary.run_id}" + (f": {_duration(elapsed)} wall time" if elapsed > 0 else "")
    console.print(escape(head), highlight=False)
    for line in _file_lines(summary.files, jobs):
        console.print(escape(f"  {line}"), highlight=False, soft_wrap=True)
