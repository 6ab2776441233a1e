"""`python -m benchmarks e2e [--quick]`: decode + embed per video, ours vs a YouTube-8M-style baseline.

Same generated 60-s 720p H.264 clips (benchmarks.common.clip), same run:
  baseline  YouTube-8M's extractor: OpenCV frame loop at 1 fps (benchmarks.decode.opencv_yt8m;
            its timestamps run one source frame late) + Keras fp32 Inception-v3 (TensorFlow's
            threads on every core, 32 frames per call), one process, one video after the other.
  ours      the features job's parts as its Beam workers run them: one worker process per CPU,
            one thread each, taking videos from a shared queue; each decodes with
            transforms.decode (PyAV, selective decoding, exact 1-fps timestamps) and embeds with
            model.embedding (default backend openvino-int8, loaded from its conversion cache
            without building the Keras model). While one worker decodes, the other embeds:
            that is how decode and embed overlap on a CPU-bound machine (threads in one process
            do not: PyAV holds the GIL; see transforms/decode_ahead.py).
  ours, fast  the same workers decoding in the opt-in fast mode (decode: {mode: fast}:
            no in-loop deblocking on non-key frames); its quality guards (PSNR of the samples
            against exact decoding, GAP@20 / coverage@80%P of a probe on a labelled clip,
            benchmarks.decode.quality_guard) are printed in the same run.
  audio     what the audio path adds to ours (decode: {..}, audio: {..} in the features job): on
            the same clips with a sound track added, one process on one thread decodes each
            clip without and with its audio (same pass) and embeds the frames and the audio
            windows (model.audio, VGGish); the figure is the audio's extra CPU-seconds (audio
            decoding as timed inside the pass, plus audio embedding) over the video path's
            (decode + frame embedding), target under 0.15.
Both use the seeded development weights (same timings as ImageNet weights). Each variant runs
in spawned processes, so peak RSS is per process; models are built before the clock starts.
Variants alternate for --rounds rounds and each keeps its best round (the machine's speed
drifts by 20-30% between minutes; alternating exposes both to the same drift).

Figures (one JSON object per line): videos_per_hour (ratio ours / baseline; [decode=fast] for
the fast mode), the per-video time
split by stage (decode, embed: CPU-seconds per video, ratio baseline / ours, i.e. the speed-up),
peak_rss_mb per worker process.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time

from benchmarks.common import clip, figure, peak_rss_mb

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_DIR = os.path.join(REPO_ROOT, ".cache", "embed-backends")
AUDIO_CACHE_DIR = os.path.join(REPO_ROOT, ".cache", "audio-backends")
# The baseline's frames per Keras call, fixed whatever the job's default: 32 is its best on
# every core (8 is as fast on one thread, 11% slower with TensorFlow's threads on two cores).
BASELINE_BATCH = 32


def _build_embedder(backend: str, threads: int | None, cache_dir: str = CACHE_DIR, batch_size: int | None = None):
    """The features job's embedder (model.embedding, seeded weights, seed 0) under `backend`,
    `batch_size` frames per call (None: the job's default): `embed(uint8[N,299,299,3]) ->
    float32[N,2048]`."""
    from model.embedding.config import EmbedderConfig
    from transforms.calibration import embedder_for

    if threads is not None:
        os.environ["VIDEO_IAB_EMBED_THREADS"] = str(threads)
    batching = {"batch_size": batch_size} if batch_size else {}
    embedder = embedder_for(EmbedderConfig(weights="seeded", seed=0, backend=backend, cache_dir=cache_dir, **batching))
    return embedder.embed


def _run_baseline(paths: list[str], threads: int | None) -> dict:
    """OpenCV loop + Keras fp32, strictly sequential. Returns seconds per stage and peak RSS."""
    import numpy as np

    from benchmarks.decode import opencv_yt8m

    embed = _build_embedder("keras-fp32", threads, batch_size=BASELINE_BATCH)
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
            "peak_rss_mb": peak_rss_mb()}


def _build_audio_embedder(backend: str | None = None):
    """The features job's audio embedder (model.audio, seeded weights, seed 0), one thread:
    `embed(float32[N,15600]) -> float32[N,128]`."""
    import numpy as np

    from model.audio.config import AudioEmbedderConfig
    from model.audio.constants import WINDOW_SAMPLES
    from model.audio.handler import load_audio_embedder

    config = AudioEmbedderConfig(cache_dir=AUDIO_CACHE_DIR, **({"backend": backend} if backend else {}))
    audio = load_audio_embedder(config, num_threads=1)
    audio.embed(np.zeros((1, WINDOW_SAMPLES), np.float32))
    return audio.embed


def _ours_worker(backend: str, cache_dir: str, decode_mode: str, audio: bool, tasks, results, ready) -> None:
    """One worker process, one thread: videos from `tasks` decoded (with their audio when
    `audio`), then their frames (and audio windows) embedded."""
    import numpy as np

    from transforms.decode import DecodeConfig, decode_video

    embed = _build_embedder(backend, 1, cache_dir)
    embed(np.zeros((1, 299, 299, 3), np.uint8))
    embed_audio = _build_audio_embedder() if audio else None
    config = DecodeConfig(threads=1, mode=decode_mode, audio=audio)
    ready.wait()
    decode_s = embed_s = 0.0
    frames = 0
    while (path := tasks.get()) is not None:
        t = time.perf_counter()
        video = decode_video(path, config)
        decode_s += time.perf_counter() - t
        t = time.perf_counter()
        embed(video.frames)
        if embed_audio is not None:
            embed_audio(video.audio)
        embed_s += time.perf_counter() - t
        frames += len(video.frames)
    results.put({"decode_s": decode_s, "embed_s": embed_s, "frames": frames,
                 "peak_rss_mb": peak_rss_mb()})


def run_ours(paths: list[str], backend: str, workers: int, cache_dir: str = CACHE_DIR,
             decode_mode: str = "exact", audio: bool = False) -> dict:
    """`workers` processes, one thread each, taking videos from a shared queue: the shape of the
    Beam graph's workers. Stage seconds are summed over workers (CPU-seconds per stage); with
    `audio`, decode and embed include the audio path's."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results, ready = ctx.Queue(), ctx.Queue(), ctx.Barrier(workers + 1)
    args = (backend, cache_dir, decode_mode, audio, tasks, results, ready)
    procs = [ctx.Process(target=_ours_worker, args=args) for _ in range(workers)]
    for p in procs:
        p.start()
    for path in paths:
        tasks.put(path)
    for _ in procs:
        tasks.put(None)
    ready.wait(timeout=600)  # every worker has built its embedder
    start = time.perf_counter()
    done = [results.get(timeout=3600) for _ in procs]
    wall = time.perf_counter() - start
    for p in procs:
        p.join()
    return {"wall_s": wall, "decode_s": sum(d["decode_s"] for d in done),
            "embed_s": sum(d["embed_s"] for d in done), "frames": sum(d["frames"] for d in done),
            "peak_rss_mb": max(d["peak_rss_mb"] for d in done)}


def _run_audio_cost(paths: list[str], backend: str, audio_backend: str) -> dict:
    """One process, one thread: per clip, decode without and with audio, embed the frames and
    the audio windows. Returns summed seconds per part."""
    import numpy as np

    from transforms.decode import DecodeConfig, decode_video

    embed = _build_embedder(backend, 1)
    embed(np.zeros((1, 299, 299, 3), np.uint8))
    embed_audio = _build_audio_embedder(audio_backend)
    times = dict.fromkeys(("decode_s", "decode_with_audio_s", "audio_decode_s", "embed_s",
                           "audio_embed_s"), 0.0)
    for path in paths:
        t = time.perf_counter()
        video = decode_video(path, DecodeConfig(threads=1))
        times["decode_s"] += time.perf_counter() - t
        t = time.perf_counter()
        heard = decode_video(path, DecodeConfig(threads=1, audio=True))
        times["decode_with_audio_s"] += time.perf_counter() - t
        times["audio_decode_s"] += heard.audio_stats.decode_s
        t = time.perf_counter()
        embed(video.frames)
        times["embed_s"] += time.perf_counter() - t
        t = time.perf_counter()
        embed_audio(heard.audio)
        times["audio_embed_s"] += time.perf_counter() - t
    return times


def _audio_figures(cost: dict, audio_backend: str, n: int) -> None:
    """The audio path's extra cost per video, as a fraction of the video path's."""
    video = cost["decode_s"] + cost["embed_s"]
    extra = cost["audio_decode_s"] + cost["audio_embed_s"]
    figure("audio_extra_cost", extra / video, "fraction of the video path", None, clips=n,
           audio_backend=audio_backend, target=0.15,
           seconds_per_video={k: round(v / n, 3) for k, v in cost.items()},
           extra_by_decode_difference=round((cost["decode_with_audio_s"] - cost["decode_s"]
                                             + cost["audio_embed_s"]) / video, 3))


def _in_child(fn, *args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall_s"])


def _figures(mode: str, ours: dict, base: dict, n: int, args, runs: dict) -> None:
    """Throughput, per-stage speed and memory of our workers in decode `mode` against the baseline."""
    tag = "" if mode == "exact" else f"[decode={mode}]"
    figure(f"videos_per_hour{tag}", 3600 * n / ours["wall_s"], "videos/h", 3600 * n / base["wall_s"],
           clips=n, backend=args.backend, workers=args.workers, decode=mode,
           frames=[ours["frames"], base["frames"]],
           rounds_s=[[round(b["wall_s"], 1), round(o["wall_s"], 1)] for b, o in zip(runs["baseline"], runs[mode])])
    # Stage times: lower is better, so baseline / ours is the speed-up (ratio > 1: we are faster).
    for stage in ("decode_s", "embed_s"):
        figure(f"{stage[:-2]}_videos_per_hour{tag}", 3600 * n / ours[stage], "videos/h", 3600 * n / base[stage],
               seconds_per_video=round(ours[stage] / n, 3), baseline_seconds_per_video=round(base[stage] / n, 3))
    figure(f"peak_rss_mb_per_worker{tag}", ours["peak_rss_mb"], "MiB", base["peak_rss_mb"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks e2e", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 clips, 2 rounds (under 5 minutes)")
    parser.add_argument("--clips", type=int, default=None, help="60-s 720p clips (default 8, --quick 4)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3, --quick 2)")
    parser.add_argument("--backend", default="openvino-int8", help="our embedding backend")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="our worker processes, one thread each (default: one per CPU)")
    parser.add_argument("--no-guard", action="store_true",
                        help="skip the fast decode mode's quality guard (about 2 minutes)")
    parser.add_argument("--audio-backend", default=None,
                        help="the audio embedder's backend (default: AudioEmbedderConfig's)")
    parser.add_argument("--audio-only", action="store_true",
                        help="only the audio path's extra cost (no baseline, no fast mode, no guard)")
    args = parser.parse_args(argv)
    n = args.clips or (4 if args.quick else 8)
    rounds = args.rounds or (2 if args.quick else 3)
    paths = [clip(60.0, seed=i, category=3 + i % 6) for i in range(n)]
    print(f"[e2e] {n} clip(s) of 60 s 720p H.264, {rounds} rounds; ours = {args.workers} worker(s) of "
          f"PyAV + {args.backend}", file=sys.stderr, flush=True)
    if not args.audio_only:
        _throughput(paths, rounds, args)
    _audio_figures(*_audio_cost(paths, args), n)
    if not args.no_guard and not args.audio_only:
        from benchmarks.decode import quality_guard

        quality_guard(args.backend, 300)
    return 0


def _throughput(paths: list[str], rounds: int, args) -> None:
    """Baseline, ours exact and ours fast, alternating for `rounds` rounds; their figures."""
    n = len(paths)
    runs = {"baseline": [], "exact": [], "fast": []}
    for r in range(rounds):
        runs["baseline"].append(_in_child(_run_baseline, paths, None))
        for mode in ("exact", "fast"):
            runs[mode].append(run_ours(paths, args.backend, args.workers, decode_mode=mode))
        print(f"[e2e] round {r + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items()),
              file=sys.stderr, flush=True)
    base = _best(runs["baseline"])
    for mode in ("exact", "fast"):
        _figures(mode, _best(runs[mode]), base, n, args, runs)


def _audio_cost(paths: list[str], args) -> tuple[dict, str]:
    """(seconds per part, audio backend) of `_run_audio_cost` on the clips with a sound track."""
    from benchmarks.common import with_audio
    from model.audio.config import AudioEmbedderConfig

    audio_backend = args.audio_backend or AudioEmbedderConfig().backend
    heard = [with_audio(path, kind=("speech", "tone", "noise", "rhythm")[i % 4], seed=i)
             for i, path in enumerate(paths)]
    return _in_child(_run_audio_cost, heard, args.backend, audio_backend), audio_backend
