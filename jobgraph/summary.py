"""The end-of-run summary: per job, what was done, skipped and dead-lettered (by reason)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from jobgraph.config import GraphConfig

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


def summary_rows(counters: dict[str, int]) -> list[tuple[str, int]]:
    rows = [(label, counters.get(name, 0)) for label, name in _ROWS]
    rows += [(f"  dead letter: {name.split(':', 1)[1]}", value)
             for name, value in sorted(counters.items()) if name.startswith("dead-letter:")]
    return rows


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
    console.print(table)
