"""`python -m benchmarks scaling [--quick]`: the batch graph with 1 and 2 local workers.

The root klio-job.yaml (video-features -> video-iab, demo model, audio branch on), its embedder
switched to openvino-int8 with the conversion cache, pointed at a listing of 60-s 720p clips with
a sound track (the e2e benchmark's clips, each listed under several ids so the workload is long
without generating more video). FnApiRunner in multi-processing mode (`direct_num_workers`), one
thread per worker (FFmpeg, OpenVINO, TensorFlow, OpenMP). The property that lets Dataflow scale
the graph out: throughput grows with workers.

Figures: videos/hour with 2 workers, baseline 1 worker, same listing, same run (wall time of
`klio job run`, pipeline start-up included); the graph with 2 workers against the e2e
benchmark's two decode+embed worker processes on the same videos, audio included
(benchmarks.e2e, models built before its clock starts; the graph also classifies and writes
files: the cost of the graph itself); the largest worker's peak RSS (the runtime's
`worker-peak-rss-mib` distribution) and private memory (`worker-private-mib`: peak RSS less the
memory-mapped model files that workers on one machine share) with 2 workers, baseline 1 worker.
All three models come from warm conversion caches, as a deployment ships them: a graph worker
then imports no TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import e2e
from benchmarks.common import CACHE_DIR, clip, figure, render_graph_config, with_audio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBED_CACHE = e2e.CACHE_DIR  # the same int8 conversions as the e2e benchmark's
AUDIO_CACHE = e2e.AUDIO_CACHE_DIR
CLASSIFIER_CACHE = os.path.join(REPO, ".cache", "classifier-backends")
# The graph as benchmarked: int8 embedder and OpenVINO classifier from their caches.
GRAPH_OVERRIDES = ["-O", "video-features:job_config.embedder.backend=openvino-int8",
                   "-O", f"video-features:job_config.embedder.cache_dir={EMBED_CACHE}",
                   "-O", f"video-features:job_config.audio.cache_dir={AUDIO_CACHE}",
                   "-O", f"video-iab:job_config.classifier.cache_dir={CLASSIFIER_CACHE}"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "VIDEO_IAB_EMBED_THREADS": "1", "NO_GCE_CHECK": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
DISTINCT_CLIPS = 8
AUDIO_KINDS = ("speech", "tone", "noise", "rhythm")


def listing(count: int) -> str:
    """A directory of `count` video files: hard links to DISTINCT_CLIPS generated 60-s 720p clips
    with a sound track (not symbolic links: the features job refuses a video that resolves
    outside its folder)."""
    directory = os.path.join(CACHE_DIR, f"scaling_{count}x60s_720p_audio")
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        path = os.path.join(directory, f"video{i:03d}.mp4")
        if os.path.islink(path):  # made by an earlier version of this benchmark
            os.remove(path)
        if not os.path.exists(path):
            j = i % DISTINCT_CLIPS
            video = clip(60.0, seed=j, category=3 + j % 6)
            os.link(with_audio(video, kind=AUDIO_KINDS[j % len(AUDIO_KINDS)], seed=j), path)
    return directory


def run_graph(videos: str, workers: int) -> tuple[float, float, float]:
    """(wall seconds, largest worker's peak RSS, largest worker's private memory; MiB) of one
    `klio job run` over `videos`."""
    out = tempfile.mkdtemp(prefix=f"scaling-{workers}w-")
    try:
        config = render_graph_config(out, videos)
        summary = os.path.join(out, "summary.json")
        cmd = [os.path.join(os.path.dirname(sys.executable), "klio"), "job", "run", "--direct-runner",
               "-c", config, "--summary-json", summary,
               "-O", f"pipeline_options.direct_num_workers={workers}",
               "-O", "pipeline_options.direct_running_mode=multi_processing",
               "-O", "video-features:job_config.decode.threads=1", *GRAPH_OVERRIDES]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"graph run with {workers} worker(s) failed:\n{proc.stderr[-3000:]}")
        labels_dir = os.path.join(out, "labels")
        labels = len(os.listdir(labels_dir)) if os.path.isdir(labels_dir) else 0
        expected = len(os.listdir(videos))
        if labels != expected:
            raise RuntimeError(f"{workers} worker(s): {labels} label files for {expected} videos")
        with open(summary, encoding="utf-8") as fh:
            distributions = json.load(fh).get("distributions", {})
        return elapsed, _largest(distributions, "worker-peak-rss-mib"), \
            _largest(distributions, "worker-private-mib")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _largest(distributions: dict, name: str) -> float:
    """The largest max of distribution `name` over the jobs that report it (NaN if none)."""
    return max((d[name]["max"] for d in distributions.values() if name in d), default=float("nan"))


def run_e2e_workers(videos: str, workers: int) -> float:
    """Wall seconds of the e2e benchmark's decode+embed workers (audio included) over the same
    video files."""
    paths = sorted(os.path.join(videos, name) for name in os.listdir(videos))
    return e2e.run_ours(paths, "openvino-int8", workers, EMBED_CACHE, audio=True)["wall_s"]


def warm_cache() -> None:
    """Convert the int8 embedders and the demo classifier once, outside the timed runs (as a
    deployment would ship them)."""
    code = ("from model.embedding.config import EmbedderConfig; from transforms.calibration import embedder_for; "
            f"embedder_for(EmbedderConfig(weights='seeded', seed=0, backend='openvino-int8', cache_dir={EMBED_CACHE!r})); "
            "from benchmarks.e2e import _build_audio_embedder; _build_audio_embedder(); "
            "from model.classifier.serving import load_classifier; "
            f"load_classifier({os.path.join(REPO, 'demo', 'model')!r}, backend='openvino', cache_dir={CLASSIFIER_CACHE!r})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True,
                   env={**os.environ, **ONE_THREAD})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="24 videos, one round (else 32, two rounds)")
    args = parser.parse_args(argv)
    count, rounds = (24, 1) if args.quick else (32, 2)
    videos = listing(count)
    warm_cache()
    runs, e2e_runs = {1: [], 2: []}, []
    for r in range(rounds):
        for workers in (1, 2):
            runs[workers].append(run_graph(videos, workers))
            print(f"[scaling] round {r + 1}, {workers} worker(s): {runs[workers][-1][0]:.1f} s",
                  file=sys.stderr, flush=True)
        e2e_runs.append(run_e2e_workers(videos, 2))
        print(f"[scaling] round {r + 1}, e2e workers: {e2e_runs[-1]:.1f} s", file=sys.stderr, flush=True)
    one, two = (min(runs[w]) for w in (1, 2))
    figure("batch graph videos/hour, 2 workers vs 1 (1 thread each)", count * 3600 / two[0], "videos/h",
           count * 3600 / one[0], videos=count, clip="60 s 720p H.264", seconds_1_worker=round(one[0], 1),
           seconds_2_workers=round(two[0], 1))
    figure("batch graph videos/hour vs the e2e benchmark's workers (2 workers each, same videos)",
           count * 3600 / two[0], "videos/h", count * 3600 / min(e2e_runs), videos=count,
           seconds_graph=round(two[0], 1), seconds_e2e=round(min(e2e_runs), 1))
    figure("peak RSS of the largest worker, 2 workers vs 1", two[1], "MiB", one[1])
    figure("private memory of the largest worker, 2 workers vs 1", two[2], "MiB", one[2])
    return 0
