"""`python -m benchmarks e2e [--quick]`: decode + embed per video, ours vs a YouTube-8M-style baseline.

Same generated 60-s 720p H.264 clips (benchmarks.common.clip), same run, one video at a time:
  baseline  YouTube-8M's extractor: OpenCV frame loop at 1 fps (benchmarks.decode.opencv_yt8m;
            its timestamps run one source frame late) + Keras fp32 Inception-v3, sequential.
  ours      transforms.decode (PyAV, selective decoding, FFmpeg threads, exact 1-fps timestamps)
            + the chosen embedding backend (default openvino-int8); the next video is decoded
            in a second thread while the frames of the current one are embedded.
Each variant runs in its own spawned process, so its peak RSS is its own; the model is built
(and an OpenVINO conversion loaded from .cache/embed-backends) before its clock starts.

Figures (one JSON object per line): videos_per_hour (ratio ours / baseline), the per-video time
split by stage (decode, embed; ratio baseline / ours, i.e. the speed-up), peak_rss_mb.
Not yet here (issue 6): batching across videos in the Beam graph, 1-vs-2 workers, streaming
latency; those belong to the pipeline benchmark.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import sys
import time

from benchmarks.common import clip, figure

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_DIR = os.path.join(REPO_ROOT, ".cache", "embed-backends")


def _build_embedder(backend: str, threads: int | None):
    """The seeded development Inception-v3 under `backend` (calibrated like benchmarks.backends)."""
    from model import embed_backends
    from model.embed_backends_dev import synthetic_frames
    from model.embedder import EmbedderConfig, build_inception

    model = build_inception(EmbedderConfig(weights="seeded", seed=0))
    calib = synthetic_frames(256, seed=10)[0] if backend.endswith("int8") else None
    return embed_backends.create_backend(backend, model, CACHE_DIR, calib, num_threads=threads)


def _run_baseline(paths: list[str], threads: int | None) -> dict:
    """OpenCV loop + Keras fp32, strictly sequential. Returns seconds per stage and peak RSS."""
    import numpy as np

    from benchmarks.decode import opencv_yt8m

    embed = _build_embedder("keras-fp32", threads)
    embed(np.zeros((1, 299, 299, 3), np.uint8))  # trace the graph before the clock starts
    decode_s = embed_s = 0.0
    frames_total = 0
    start = time.perf_counter()
    for path in paths:
        t = time.perf_counter()
        frames = np.stack(opencv_yt8m(path))
        decode_s += time.perf_counter() - t
        t = time.perf_counter()
        embed(frames)
        embed_s += time.perf_counter() - t
        frames_total += len(frames)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "decode_s": decode_s, "embed_s": embed_s, "frames": frames_total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_ours(paths: list[str], backend: str, threads: int | None) -> dict:
    """PyAV selective decode overlapped with embedding of the previous video."""
    import numpy as np

    from transforms.decode import DecodeConfig, decode_video

    embed = _build_embedder(backend, threads)
    embed(np.zeros((1, 299, 299, 3), np.uint8))
    config = DecodeConfig()

    def timed_decode(path):
        t = time.perf_counter()
        video = decode_video(path, config)
        return video, time.perf_counter() - t

    decode_s = embed_s = 0.0
    frames_total = 0
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(timed_decode, paths[0])
        for i in range(len(paths)):
            video, dt = pending.result()
            decode_s += dt
            if i + 1 < len(paths):
                pending = pool.submit(timed_decode, paths[i + 1])
            t = time.perf_counter()
            embed(video.frames)
            embed_s += time.perf_counter() - t
            frames_total += len(video.frames)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "decode_s": decode_s, "embed_s": embed_s, "frames": frames_total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _in_child(fn, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one 60-s clip (under 5 minutes)")
    parser.add_argument("--clips", type=int, default=None, help="60-s 720p clips (default 3, --quick 1)")
    parser.add_argument("--backend", default="openvino-int8", help="our embedding backend")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all CPUs)")
    args = parser.parse_args(argv)
    n = args.clips or (1 if args.quick else 3)
    paths = [clip(60.0, seed=i, category=3 + i) for i in range(n)]
    print(f"[e2e] {n} clip(s) of 60 s 720p H.264; ours = PyAV + {args.backend}", file=sys.stderr, flush=True)
    base = _in_child(_run_baseline, paths, args.threads)
    ours = _in_child(_run_ours, paths, args.backend, args.threads)
    figure("videos_per_hour", 3600 * n / ours["wall_s"], "videos/h", 3600 * n / base["wall_s"],
           clips=n, backend=args.backend, frames=[ours["frames"], base["frames"]])
    # Stage times: lower is better, so baseline / ours is the speed-up (ratio > 1: we are faster).
    for stage in ("decode_s", "embed_s"):
        figure(f"{stage[:-2]}_videos_per_hour", 3600 * n / ours[stage], "videos/h", 3600 * n / base[stage],
               seconds_per_video=round(ours[stage] / n, 3), baseline_seconds_per_video=round(base[stage] / n, 3))
    figure("peak_rss_mb", ours["peak_rss_mb"], "MiB", base["peak_rss_mb"])
    return 0
