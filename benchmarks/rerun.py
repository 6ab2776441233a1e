"""`python -m benchmarks rerun [--quick]`: the cost of a rerun over a catalogue whose outputs exist.

Such a rerun is routing plus existence checks. One job (data output `{root}/out/{id}.json`, every
output present), 100,000 IDs, routed by one FnApiRunner worker in this process (Create ->
IdsToMessages -> the routing step; the wall time of the whole pipeline, Create included).
Ours: `jobgraph.steps.RouteMessages`, which routes chunks of messages and answers their existence
questions together (jobgraph.existence). Baseline, same IDs, same run: the routing step as it
was before (`PerElementRoute`, one `FileSystems.exists` per element), alternated with ours.

Figures (skipped elements/s per worker):
- local files, 100,000 IDs;
- gs:// on gcp-storage-emulator (in memory, on loopback), 100,000 objects (`--quick`: 10,000),
  with the HTTP requests the emulator served (counted from its request log, by kind) and the
  FileSystems calls made. The emulator answers a listing in one response; real GCS pages
  listings by 1,000 objects, so `gcs_list_pages` gives what the listings would cost there;
- the toy graph's batch rerun (`examples/toy-graph`, both jobs, all outputs present) through
  `jobgraph.pipeline.run`, what `klio job run --direct-runner --batch-input` runs, in-process
  so the baseline can swap the routing step (100,000 IDs; `--quick`: 20,000).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.common import REPO, figure
from jobgraph import storage
from jobgraph.config import load_graph
from jobgraph.deadletter import DEAD_LETTER
from jobgraph.receipts import RECEIPTS, element_key
from jobgraph.routing import Outcome, route
from jobgraph.steps import INPUT_MISSING, PASS_THRU, IdsToMessages, RouteMessages, counter, dead_letter

FN_API_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
BUCKET = "rerun-bench"
JOB_YAML = """
version: 2
job_name: rerun
pipeline_options: {{project: bench, streaming: false}}
job_config:
  data:
    inputs: [{{type: file, location: {root}/in, file_suffix: .txt}}]
    outputs: [{{type: file, location: {root}/out, file_suffix: .json}}]
"""


class PerElementRoute(RouteMessages):
    """Baseline: the routing step before batching (jobgraph/steps.py at 9ae7ad7, verbatim):
    one route() per message as it arrives, `storage.exists` per question."""

    def process(self, msg):  # noqa: C901 - kept as it was
        name = self.job.job_name
        counter(name, "kmsg-received").inc()
        try:
            decision = route(msg, self.job, storage.exists)
        except Exception as exc:  # storage errors must not kill the pipeline
            yield dead_letter(name, msg, "route", "existence-check-failed", str(exc), type(exc).__name__)
            return
        outcome = decision.outcome
        if outcome in (Outcome.DROP_NO_RECIPIENTS, Outcome.DROP_NOT_RECIPIENT):
            RECEIPTS.done(name, element_key(msg.data.element))  # a drop ends the message here
            if outcome is Outcome.DROP_NOT_RECIPIENT:
                counter(name, "kmsg-drop-not-recipient").inc()
            else:
                counter(name, "kmsg-drop-no-recipients").inc()
            counter(name, "kmsg-drop").inc()
            return
        if outcome is Outcome.INVALID_ID:
            yield dead_letter(name, msg, "validate-id", "invalid-id", decision.detail, "InvalidElementId")
            return
        if outcome is Outcome.PING:
            counter(name, "kmsg-skip-ping").inc()
            yield pvalue.TaggedOutput(PASS_THRU, msg)
            return
        counter(name, "kmsg-process-ping").inc()
        if self.job.data_output is not None and not self.job.data_output.skip_klio_existence_check:
            if outcome is Outcome.OUTPUT_EXISTS or decision.forced:
                counter(name, "kmsg-data-found-output").inc()
            else:
                counter(name, "kmsg-data-not-found-output").inc()
        if outcome is Outcome.OUTPUT_EXISTS:
            counter(name, "kmsg-skip-force").inc()
            yield pvalue.TaggedOutput(PASS_THRU, msg)
            return
        if decision.forced:
            counter(name, "kmsg-process-force").inc()
        if outcome is Outcome.INPUT_MISSING:
            counter(name, "kmsg-data-not-found-input").inc()
            yield pvalue.TaggedOutput(INPUT_MISSING, msg)
            return
        if self.job.data_input is not None and not self.job.data_input.skip_klio_existence_check:
            counter(name, "kmsg-data-found-input").inc()
        yield msg

    def finish_bundle(self):
        return None


# ---- FileSystems calls, counted in this process (the FnApiRunner runs the steps here) ------

CALLS: Counter = Counter()


def _counting(name: str, real):
    def call(*args, **kwargs):
        result = real(*args, **kwargs)
        CALLS[name] += 1
        if name == "match":  # what the listing would cost on GCS: pages of 1,000 objects
            CALLS["gcs_list_pages"] += max(1, math.ceil(len(result[0].metadata_list) / 1000))
        return result
    return staticmethod(call)


@contextlib.contextmanager
def counted_filesystem_calls():
    real = {name: getattr(FileSystems, name) for name in ("exists", "match")}
    for name, fn in real.items():
        setattr(FileSystems, name, _counting(name, fn))
    try:
        yield CALLS
    finally:
        for name, fn in real.items():
            setattr(FileSystems, name, staticmethod(fn))


# ---- one routing run ------------------------------------------------------------------------

def job_at(directory: str, root: str):
    path = os.path.join(directory, "klio-job.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(textwrap.dedent(JOB_YAML.format(root=root)))
    return load_graph(path).job("rerun")


def route_ids(job, ids: list[str], step: type | None) -> tuple[float, dict[str, int]]:
    """(wall seconds, the job's counters) of Create(ids) -> IdsToMessages -> `step` (None: no
    routing step, to see what the rest of the pipeline costs), one worker."""
    options = PipelineOptions([], runner=FN_API_RUNNER, direct_num_workers=1, direct_running_mode="in_memory")
    p = beam.Pipeline(options=options)
    messages = p | beam.Create(ids) | beam.ParDo(IdsToMessages(job))
    if step is not None:
        _ = messages | beam.ParDo(step(job)).with_outputs(PASS_THRU, INPUT_MISSING, DEAD_LETTER, main="process")
    start = time.perf_counter()
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    counters = result.metrics().query(MetricsFilter().with_namespace(job.job_name))["counters"]
    counts = {c.key.metric.name: c.committed for c in counters}
    if step is not None and counts.get("kmsg-skip-force") != len(ids):
        raise RuntimeError(f"{step.__name__}: {counts} for {len(ids)} IDs whose outputs exist")
    return seconds, counts


def compare(job, ids: list[str], rounds: int, measure=None) -> dict:
    """Best wall time of ours and the baseline over `rounds` alternated runs, and what
    `measure(run)` (a context manager yielding a dict of counts) saw in each one's best run."""
    best: dict[str, tuple[float, dict]] = {}
    for r in range(rounds):
        for label, step in (("baseline", PerElementRoute), ("ours", RouteMessages)):
            with (measure() if measure else contextlib.nullcontext({})) as seen:
                seconds, counts = route_ids(job, ids, step)
            print(f"[rerun] {job.data_output.location}, round {r + 1}, {label}: {seconds:.2f} s",
                  file=sys.stderr, flush=True)
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, {"counters": counts, **dict(seen)})
    if best["ours"][1]["counters"] != best["baseline"][1]["counters"]:
        raise RuntimeError(f"counters differ: {best['ours'][1]} vs {best['baseline'][1]}")
    return best


def bench_local(n: int, rounds: int) -> None:
    directory = tempfile.mkdtemp(prefix="rerun-local-")
    try:
        os.makedirs(os.path.join(directory, "out"))
        ids = [f"v{i:07d}" for i in range(n)]
        for element in ids:
            open(os.path.join(directory, "out", f"{element}.json"), "wb").close()
        job = job_at(directory, directory)
        best = compare(job, ids, rounds)
        rest = min(route_ids(job, ids, None)[0] for _ in range(rounds))  # Create + IdsToMessages
        ours, base = best["ours"][0], best["baseline"][0]
        figure("rerun over existing outputs, local files, skipped elements/s per worker", n / ours,
               "elements/s", n / base, ids=n, workers=1, runner="FnApiRunner",
               seconds=round(ours, 2), baseline_seconds=round(base, 2),
               seconds_without_routing_step=round(rest, 2),
               routing_step_only=round(n / max(ours - rest, 1e-9)),
               baseline_routing_step_only=round(n / max(base - rest, 1e-9)),
               storage_calls="one stat per element in both (os.path.exists; baseline through FileSystems.exists)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ---- gs:// on gcp-storage-emulator ----------------------------------------------------------

def serve_seeded(port: int, bucket: str, prefix: str, count: int) -> None:
    """Run gcp-storage-emulator (in memory) with `count` empty objects `{prefix}v{i:07d}.json`,
    created through the emulator's own object code. Uploading them one request at a time would
    take hours: the emulator rewrites its whole metadata file on every write."""
    import logging

    from gcp_storage_emulator.handlers.objects import _checksums, _make_object_resource
    from gcp_storage_emulator.server import create_server

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)  # one line a request
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    store = server._storage  # noqa: SLF001 - seeding, before the server answers anything
    store._write_config_to_file = lambda: None  # noqa: SLF001 - in memory: nothing to persist
    base = f"http://127.0.0.1:{port}"
    for i in range(count):
        name = f"{prefix}v{i:07d}.json"
        obj = _checksums(b"", _make_object_resource(base, bucket, name, "application/octet-stream", "0"))
        store.create_file(bucket, name, b"", obj)
    print(f"seeded {count} objects", file=sys.stderr, flush=True)
    server.run()


@contextlib.contextmanager
def seeded_emulator(log_path: str, count: int):
    """(STORAGE_EMULATOR_HOST url) of a seeded emulator on a free loopback port (tests/servers.py)."""
    from tests import servers

    def command(port: int) -> list[str]:
        code = f"from benchmarks.rerun import serve_seeded; serve_seeded({port}, {BUCKET!r}, 'out/', {count})"
        return [sys.executable, "-c", code]

    proc, port = servers._start_on_free_port(command, log_path, "seeded gcp-storage-emulator")  # noqa: SLF001
    try:
        deadline = time.monotonic() + 600
        while "seeded" not in open(log_path, encoding="utf-8", errors="replace").read():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the emulator did not finish seeding; see {log_path}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        servers.stop(proc)


def request_kinds(log_path: str) -> Counter:
    """The HTTP requests the emulator logged, by kind: listing, object, bucket (metadata)."""
    kinds: Counter = Counter()
    with open(log_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if " HTTP/1." not in line:
                continue
            target = line.split(" ", 2)[1] if line.count(" ") >= 2 else ""
            path = target.split("?", 1)[0]
            kinds["listing" if path.endswith(f"/b/{BUCKET}/o") else
                  "object" if f"/b/{BUCKET}/o/" in path else "bucket" if path.endswith(f"/b/{BUCKET}") else "other"] += 1
    return kinds


def emulator_counts(log_path: str):
    """A context manager per run: the emulator's requests during it, and FileSystems calls."""
    @contextlib.contextmanager
    def measure():
        before, calls_before = request_kinds(log_path), Counter(CALLS)
        seen: dict = {}
        with counted_filesystem_calls():
            yield seen
        time.sleep(1.0)  # the client's background bucket-metadata requests land
        served = request_kinds(log_path) - before
        seen.update(http_requests=sum(served.values()), http_by_kind=dict(served),
                    filesystem_calls=dict(Counter(CALLS) - calls_before))
    return measure


def _anonymous_gcs() -> None:
    """The emulator needs no credentials; without this Beam retries google.auth.default() for
    ~23 s (as tests/conftest.py does)."""
    from apache_beam.internal.gcp import auth

    auth._Credentials._credentials_init = True  # noqa: SLF001
    auth._Credentials._credentials = None  # noqa: SLF001


def bench_gcs(n: int, rounds: int) -> None:
    _anonymous_gcs()
    directory = tempfile.mkdtemp(prefix="rerun-gcs-")
    log_path = os.path.join(directory, "emulator.log")
    old_host = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        with seeded_emulator(log_path, n) as url:
            os.environ["STORAGE_EMULATOR_HOST"] = url
            ids = [f"v{i:07d}" for i in range(n)]
            best = compare(job_at(directory, f"gs://{BUCKET}"), ids, rounds, emulator_counts(log_path))
        ours, base = best["ours"], best["baseline"]
        figure("rerun over existing outputs, gs:// on gcp-storage-emulator, skipped elements/s per worker",
               n / ours[0], "elements/s", n / base[0], ids=n, workers=1, runner="FnApiRunner",
               seconds=round(ours[0], 2), baseline_seconds=round(base[0], 2),
               http_requests=ours[1]["http_requests"], baseline_http_requests=base[1]["http_requests"],
               http_by_kind=ours[1]["http_by_kind"], baseline_http_by_kind=base[1]["http_by_kind"],
               filesystem_calls=ours[1]["filesystem_calls"], baseline_filesystem_calls=base[1]["filesystem_calls"],
               note="emulator answers a listing in one response; gcs_list_pages = pages of 1,000 on GCS")
    finally:
        if old_host is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = old_host
        shutil.rmtree(directory, ignore_errors=True)


# ---- the toy graph's batch rerun (what `klio job run --direct-runner --batch-input` runs) ----

def graph_rerun(graph, ids_file: str, step: type) -> tuple[float, dict]:
    """(wall seconds, counters) of jobgraph.pipeline.run over `ids_file` with `step` routing."""
    from jobgraph import pipeline

    real, pipeline.RouteMessages = pipeline.RouteMessages, step
    try:
        start = time.perf_counter()
        summary = pipeline.run(graph, direct_runner=True, ids_file=ids_file)
        return time.perf_counter() - start, summary.counters
    finally:
        pipeline.RouteMessages = real


def bench_graph(n: int, rounds: int) -> None:
    root = tempfile.mkdtemp(prefix="rerun-graph-")
    try:
        toy = os.path.join(REPO, "examples", "toy-graph")
        for name in ("klio-job.yaml", "toy.py"):
            shutil.copy(os.path.join(toy, name), os.path.join(root, name))
        ids = [f"v{i:07d}" for i in range(n)]
        for folder, suffix in (("mid", ".txt"), ("out", ".json")):  # both jobs' outputs exist
            os.makedirs(os.path.join(root, folder))
            for element in ids:
                open(os.path.join(root, folder, element + suffix), "wb").close()
        ids_file = os.path.join(root, "ids.txt")
        with open(ids_file, "w", encoding="utf-8") as fh:
            fh.write("\n".join(ids) + "\n")
        graph = load_graph(os.path.join(root, "klio-job.yaml"), templates=[f"root={root}", "project=bench"])
        best: dict[str, float] = {}
        for r in range(rounds):
            for label, step in (("baseline", PerElementRoute), ("ours", RouteMessages)):
                seconds, counters = graph_rerun(graph, ids_file, step)
                skipped = [counters[job]["kmsg-skip-force"] for job in ("toy-upper", "toy-count")]
                if skipped != [n, n]:
                    raise RuntimeError(f"{label}: skipped {skipped} of {n} per job")
                print(f"[rerun] toy graph, round {r + 1}, {label}: {seconds:.2f} s", file=sys.stderr, flush=True)
                best[label] = min(seconds, best.get(label, float("inf")))
        figure("batch rerun of the toy graph (2 jobs, all outputs exist), IDs/s, jobgraph.pipeline.run",
               n / best["ours"], "IDs/s", n / best["baseline"], ids=n, jobs=2, workers=1,
               seconds=round(best["ours"], 2), baseline_seconds=round(best["baseline"], 2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks rerun", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one round each; 10,000 objects on the emulator, 20,000 IDs for the graph")
    parser.add_argument("--only", choices=("local", "gcs", "graph"), help="run one figure only")
    args = parser.parse_args(argv)
    os.environ.setdefault("NO_GCE_CHECK", "true")
    rounds = 1 if args.quick else 3
    if args.only in (None, "local"):
        bench_local(100_000, rounds)
    if args.only in (None, "gcs"):
        bench_gcs(10_000 if args.quick else 100_000, 1)  # the baseline: ~12 ms per element
    if args.only in (None, "graph"):
        bench_graph(20_000 if args.quick else 100_000, rounds)
    return 0
