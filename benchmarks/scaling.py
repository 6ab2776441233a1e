"""`python -m benchmarks scaling [--quick]`: the batch graph with 1 and 2 local workers.

One thread per worker (TensorFlow, oneDNN/OpenMP, FFmpeg), FnApiRunner in multi-processing
mode (`direct_num_workers`), the root klio-job.yaml (video-features -> video-iab, demo model)
pointed at generated clips. The property that lets Dataflow scale the graph out: throughput
grows with workers. Figure: videos/hour with 2 workers, baseline 1 worker, same clips, same run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.common import CACHE_DIR, figure
from transforms.synthetic_video import VideoSpec, write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_THREAD = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "VIDEO_IAB_EMBED_THREADS": "1", "NO_GCE_CHECK": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}


def clips(count: int, seconds: float) -> str:
    directory = os.path.join(CACHE_DIR, f"scaling_{count}x{seconds:g}s")
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        path = os.path.join(directory, f"clip{i:03d}.mp4")
        if not os.path.exists(path):
            write_video(path + ".tmp.mp4", VideoSpec(content="scene", category=i % 6, seed=500 + i,
                                                     duration_s=seconds, fps=25.0, width=320, height=240))
            os.replace(path + ".tmp.mp4", path)
    return directory


def render_config(videos: str, out: str) -> str:
    text = open(os.path.join(REPO, "klio-job.yaml"), encoding="utf-8").read()
    text = text.replace("demo-output/", f"{out}/").replace("demo/videos", videos)
    text = text.replace("demo/", f"{REPO}/demo/")
    path = os.path.join(out, "klio-job.yaml")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def run_graph(videos: str, workers: int) -> float:
    out = tempfile.mkdtemp(prefix=f"scaling-{workers}w-")
    try:
        config = render_config(videos, out)
        cmd = [os.path.join(os.path.dirname(sys.executable), "klio"), "job", "run", "--direct-runner",
               "-c", config, "-O", f"pipeline_options.direct_num_workers={workers}",
               "-O", "pipeline_options.direct_running_mode=multi_processing",
               "-O", "video-features:job_config.decode.threads=1"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"graph run with {workers} worker(s) failed:\n{proc.stderr[-3000:]}")
        labels = len(os.listdir(os.path.join(out, "labels")))
        expected = len(os.listdir(videos))
        if labels != expected:
            raise RuntimeError(f"{workers} worker(s): {labels} label files for {expected} videos")
        return elapsed
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scaling")
    parser.add_argument("--quick", action="store_true", help="8 clips of 20 s (else 16 of 60 s)")
    args = parser.parse_args(argv)
    count, seconds = (8, 20.0) if args.quick else (16, 60.0)
    videos = clips(count, seconds)
    one = run_graph(videos, 1)
    two = run_graph(videos, 2)
    figure("batch graph videos/hour, 2 workers vs 1 (1 thread each)", count * 3600 / two, "videos/h",
           count * 3600 / one, clips=count, clip_seconds=seconds, seconds_1_worker=round(one, 1),
           seconds_2_workers=round(two, 1))
    return 0
