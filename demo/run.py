"""`./dev demo`: run the job graph (`klio job run --direct-runner ARGS...`), then print the labels.

The runtime (jobgraph) is generic and prints only its summary table; this wrapper adds the demo's
second table: per video, the labels written to the video-iab job's data output location
(ID, IAB id, name and score of every label). The locations come from the same klio-job.yaml,
-c/-j/-O/-T as the run, so `./dev demo -O ...` prints what that run wrote.

    python -m demo.run [klio job run arguments...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

LABELS_JOB = "video-iab"
VIDEOS_JOB = "video-features"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-j", "--job-dir", default=".")
    parser.add_argument("-c", "--config-file", default=None)
    parser.add_argument("-O", "--override", action="append", default=[])
    parser.add_argument("-T", "--template", action="append", default=[])
    parser.add_argument("--job", default=None)
    parser.add_argument("--batch-input", default=None)
    parser.add_argument("--summary-json", default=None)
    parser.add_argument("ids", nargs="*")
    return parser


def run_ids(args: argparse.Namespace, graph) -> list[str]:
    """The IDs the run was over: given, from --batch-input, or the listing of the videos."""
    from jobgraph import storage

    if args.ids:
        return list(args.ids)
    if args.batch_input:
        with open(args.batch_input, encoding="utf-8") as fh:
            return [line.strip() for line in fh if line.strip()]
    job = graph.job(VIDEOS_JOB)
    return storage.list_ids(job.data_input, job.id_pattern)


def read_labels(labels_location: str, ids: list[str]) -> list[tuple[str, dict | None]]:
    from jobgraph import storage

    rows = []
    for vid in ids:
        path = f"{labels_location.rstrip('/')}/{vid}.json"
        try:
            rows.append((vid, json.loads(storage.read_bytes(path)) if storage.exists(path) else None))
        except (OSError, ValueError):
            rows.append((vid, None))
    return rows


def print_labels(rows: list[tuple[str, dict | None]], labels_location: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"labels ({labels_location})")
    table.add_column("video ID")
    table.add_column("labels (IAB id name score)")
    table.add_column("best raw score")
    for vid, doc in rows:
        if doc is None:
            table.add_row(vid, "[red]no labels file[/red]", "")
            continue
        labels = "; ".join(f"{x['id']} {x.get('name')} {x.get('score', 0.0):.2f}" for x in doc.get("labels", []))
        top = doc.get("top_k") or [{}]
        best = f"{top[0].get('id', '')} {top[0].get('name', '')} {top[0].get('score', 0.0):.2f}" if top[0] else ""
        table.add_row(vid, labels or "(none above threshold)", best)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    klio = os.path.join(os.path.dirname(sys.executable), "klio")
    code = subprocess.call([klio, "job", "run", "--direct-runner", *argv])
    if code != 0:
        return code
    from jobgraph.config import load_graph

    args, _ = _parser().parse_known_args(argv)
    path = args.config_file or os.path.join(args.job_dir, "klio-job.yaml")
    graph = load_graph(path, overrides=args.override, templates=args.template)
    labels_job = graph.job(LABELS_JOB)
    location = labels_job.data_output.location
    print_labels(read_labels(location, run_ids(args, graph)), os.path.relpath(location)
                 if "://" not in location else location)
    return 0


if __name__ == "__main__":
    sys.exit(main())
