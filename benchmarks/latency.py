"""`python -m benchmarks latency [--quick]`: streaming latency, upload event to label file.

Google's Pub/Sub emulator on loopback; the root graph (video-features -> video-iab) running as
two streaming pipelines (`klio job run --direct-runner --streaming`), its embedder switched to
openvino-int8 and its classifier to OpenVINO, both from their conversion caches; uploads are 60-s 720p H.264 clips (the e2e clips).
One top-down upload event is published every --interval seconds (below the graph's capacity, so
the figure is latency, not queueing); each one's latency runs from its publish call to the
modification time of its label file. Before any upload, a ping (Klio's trace message: no work)
is published right after the jobs are launched; its arrival on the labels topic says both jobs
run (start-up: interpreter, Beam, pipeline construction, subscriptions). The jobs load their
models from warm conversion caches when they start (a warm-up element through each RunInference
step), concurrently with the ping; the first upload, published as soon as the ping is back,
waits for whatever is still loading: its latency is the cold start. Then the measured uploads.

Figures: latency_p50_s, latency_p95_s, latency_max_s, cold_start_s, startup_s (launch to the
ping's arrival) (baseline: none; value in seconds, lower is better).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.common import REPO, figure, render_graph_config
from benchmarks.scaling import GRAPH_OVERRIDES, listing, warm_cache

PROJECT = "video-iab-latency"


def _wait_for(path: str, timeout: float, proc: subprocess.Popen, log: str) -> float:
    """The label file's modification time, once it exists."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return os.stat(path).st_mtime
        if proc.poll() is not None:
            raise RuntimeError(f"the streaming jobs exited ({proc.returncode}):\n{open(log).read()[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"no label file {path} within {timeout} s:\n{open(log).read()[-3000:]}")


def _wait_for_ping(labels, proc: subprocess.Popen, log: str, timeout: float = 300) -> None:
    """Until a ping message arrives on the labels topic (both jobs run)."""
    from tests.pubsub_helpers import messages

    labels.watch(proc, log)
    labels.pull(quiet_s=0, until=lambda raw: any(m.metadata.ping for m in messages(raw)), timeout=timeout)
    if not any(m.metadata.ping for m in messages(labels.received)):
        raise RuntimeError(f"the ping did not come through within {timeout} s:\n{open(log).read()[-3000:]}")


def measure(uploads: int, interval_s: float) -> tuple[float, float, list[float]]:
    """(start-up, cold-start latency, [latency of each measured upload]) in seconds."""
    from jobgraph.config import load_graph
    from jobgraph.message import new_message
    from jobgraph.resources import publish
    from tests import servers
    from tests.pubsub_helpers import Collector

    out = tempfile.mkdtemp(prefix="latency-")
    videos = listing(uploads + 1)
    try:
        with servers.pubsub_emulator(os.path.join(out, "emulator.log")) as host:
            env = {**os.environ, "PUBSUB_EMULATOR_HOST": host, "NO_GCE_CHECK": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
            os.environ["PUBSUB_EMULATOR_HOST"] = host
            config = render_graph_config(out, videos, PROJECT)
            overrides = GRAPH_OVERRIDES
            klio = os.path.join(os.path.dirname(sys.executable), "klio")
            subprocess.run([klio, "job", "verify", "--create-resources", "-c", config, *overrides],
                           check=True, capture_output=True, env=env, cwd=REPO)
            log = os.path.join(out, "pipelines.log")
            graph = load_graph(config)
            labels_topic = graph.job("video-iab").event_outputs[0].topic
            labels = Collector(PROJECT, labels_topic.rsplit("/", 1)[-1], "latency-labels")
            launched = time.time()
            with open(log, "wb") as fh:
                proc = subprocess.Popen([klio, "job", "run", "--direct-runner", "--streaming", "-c", config,
                                         *overrides], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                        start_new_session=True)
            try:
                job = graph.job("video-features")
                topic = job.event_input(streaming=True).topic
                ids = sorted(os.path.splitext(name)[0] for name in os.listdir(videos))
                publish(topic, [new_message(ids[0], job=job.identity, top_down=True, ping=True).SerializeToString()])
                _wait_for_ping(labels, proc, log)
                startup = time.time() - launched
                print(f"[latency] start-up {startup:.1f} s", file=sys.stderr, flush=True)

                def one(video_id: str) -> float:
                    data = new_message(video_id, job=job.identity, top_down=True).SerializeToString()
                    sent = time.time()
                    publish(topic, [data])
                    return _wait_for(os.path.join(out, "labels", f"{video_id}.json"), 900, proc, log) - sent

                cold = one(ids[0])
                print(f"[latency] cold start {cold:.1f} s", file=sys.stderr, flush=True)
                latencies = []
                for video_id in ids[1:]:
                    started = time.time()
                    latencies.append(one(video_id))
                    print(f"[latency] {video_id}: {latencies[-1]:.2f} s", file=sys.stderr, flush=True)
                    time.sleep(max(0.0, interval_s - (time.time() - started)))
                return startup, cold, latencies
            finally:
                servers.stop(proc)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks latency", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 uploads (else 30)")
    parser.add_argument("--interval", type=float, default=8.0, help="seconds between upload events (default 8)")
    args = parser.parse_args(argv)
    uploads = 10 if args.quick else 30
    warm_cache()
    startup, cold, latencies = measure(uploads, args.interval)
    ranked = sorted(latencies)
    p95 = ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))]
    extra = {"uploads": uploads, "interval_s": args.interval, "clip": "60 s 720p H.264"}
    figure("latency_p50_s", statistics.median(latencies), "s", None, **extra)
    figure("latency_p95_s", p95, "s", None, **extra)
    figure("latency_max_s", ranked[-1], "s", None, **extra)
    figure("cold_start_s", cold, "s", None, **extra)
    figure("startup_s", startup, "s", None, **extra)
    return 0
