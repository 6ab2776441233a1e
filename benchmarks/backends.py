"""`python -m benchmarks backends [--quick]`: embedding backends against Keras fp32, same run.

Figures (one JSON object per line on stdout: figure, value, unit, baseline, ratio = ours/baseline):
  fps[<backend>,batch=B]        frames/s of each backend; baseline: keras-fp32 at the same batch.
  best_speedup[batch=B]         the fastest backend's frames/s over keras-fp32's.
  gap@20[<backend>]             quality guard: GAP@20 of a linear probe trained on the backend's
  coverage@80P[<backend>]       features of the synthetic task; baseline: keras-fp32's features.
  <metric>_drop[<backend>]      fp32's metric minus the backend's, in points, with the paired
                                bootstrap sd (sd_points). Guard: GAP@20 drop <= 1; coverage drop
                                - 2 sd <= 1 (its sampling noise is several points at this size).
  cosine_vs_fp32[<backend>,weights=dev|real]  mean row cosine of the features against keras-fp32's;
                                meaningful with real weights (--weights), where it should be >= 0.99.

All backends embed the same frames in the same order, one batch each in turn (round-robin), so
load from other processes hits them alike; frames/s is from the median batch time. The frames
embedded for throughput are the train and test frames of the quality guard.

Without --weights the model is the project's seeded development Inception-v3
(model.embedding.inception, weights="seeded": BatchNorm statistics re-estimated on synthetic scenes): timings are the same as with real weights, and the
quality guard is the meaningful check (see model/embedding/quality.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from model.embedding import backends as embed_backends
from model.embedding.synthetic_frames import synthetic_frames
from model.embedding.config import EmbedderConfig
from model.embedding.constants import DIM
from model.embedding.inception import build_inception
from transforms.calibration import scene_frames
from model.embedding.quality import cosine_to_reference, paired_drop, task_metrics, train_linear_probe

REFERENCE = "keras-fp32"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _figure(figure: str, value: float, unit: str, baseline: float | None, **extra) -> dict:
    """Print one figure in benchmarks.common's shape (ratio = value / baseline; None for a 0 baseline)."""
    ratio = None if not baseline else round(value / baseline, 4)
    row = {"figure": figure, "value": round(float(value), 4), "unit": unit,
           "baseline": None if baseline is None else round(float(baseline), 4), "ratio": ratio, **extra}
    print(json.dumps(row), flush=True)
    return row


def _note(msg: str) -> None:
    print(f"[backends] {msg}", file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks backends", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer frames (about 4 minutes on an idle 2-core machine)")
    p.add_argument("--backends", default=",".join(embed_backends.BACKENDS),
                   help=f"comma-separated, from {','.join(embed_backends.BACKENDS)} ({REFERENCE} is always run)")
    p.add_argument("--batch", type=int, default=32, help="frames per inference call (default 32)")
    p.add_argument("--frames", type=int, default=None,
                   help="train frames = test frames of the quality task (default 600, --quick 300)")
    p.add_argument("--calibration", type=int, default=None, help="int8 calibration frames (default 256, --quick 96)")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: all CPUs)")
    p.add_argument("--weights", default=None, help="real InceptionV3 no-top weights file (default: dev model)")
    p.add_argument("--cache-dir", default=os.path.join(REPO_ROOT, ".cache", "embed-backends"),
                   help="converted-model cache (default: .cache/embed-backends)")
    p.add_argument("--check", action="store_true", help="exit 1 if the quality guard fails")
    args = p.parse_args(argv)
    args.frames = args.frames or (300 if args.quick else 600)
    args.calibration = args.calibration or (96 if args.quick else 256)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.backends = [REFERENCE] + [b for b in names if b != REFERENCE]
    return args


def _load_model(weights: str | None):
    """Real weights from a file, else the project's seeded development Inception-v3."""
    config = EmbedderConfig(weights=weights) if weights else EmbedderConfig(weights="seeded", seed=0)
    seeded = config.weights == "seeded"
    return build_inception(config, scene_frames(config.seed, config.calibration_frames) if seeded else None)


def _embed_round_robin(embedders: dict, frames: np.ndarray, batch: int) -> tuple[dict, dict]:
    """Returns ({backend: float32[N,2048]}, {backend: [seconds per full batch]})."""
    feats = {b: np.empty((len(frames), DIM), np.float32) for b in embedders}
    times = {b: [] for b in embedders}
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        for b, embed in embedders.items():
            t = time.perf_counter()
            feats[b][start:start + len(chunk)] = embed(chunk)
            if len(chunk) == batch:
                times[b].append(time.perf_counter() - t)
    return feats, times


def main(argv: list[str]) -> int:
    args = _parse(argv)
    _note(f"CPU flags: {' '.join(_cpu_flags()) or 'unknown'}")
    calib, _ = synthetic_frames(args.calibration, seed=10)
    model = _load_model(args.weights)
    weights = "real" if args.weights else "dev"

    embedders = {}
    for b in args.backends:
        t = time.perf_counter()
        embedders[b] = embed_backends.create_backend(b, model, args.cache_dir, calib, num_threads=args.threads,
                                                     max_batch=args.batch)
        embedders[b](calib[:args.batch])  # warm-up: first-call allocations and tracing
        _note(f"{b}: ready in {time.perf_counter() - t:.1f} s (cache hit: {embedders[b].cache_hit}), "
              f"{embedders[b].runtime}")

    train_x, train_y = synthetic_frames(args.frames, seed=1)
    test_x, test_y = synthetic_frames(args.frames, seed=2)
    feats, times = _embed_round_robin(embedders, np.concatenate([train_x, test_x]), args.batch)

    fps = {b: args.batch / statistics.median(ts) for b, ts in times.items()}
    for b in args.backends:
        _figure(f"fps[{b},batch={args.batch}]", fps[b], "frames/s", fps[REFERENCE])
    best = max((b for b in args.backends if b != REFERENCE), key=fps.get, default=REFERENCE)
    _figure(f"best_speedup[batch={args.batch}]", fps[best] / fps[REFERENCE], f"x ({best})", 1.0)

    n = args.frames
    scores = {b: train_linear_probe(f[:n], train_y)(f[n:]) for b, f in feats.items()}
    ok = True
    for b in args.backends:
        got, ref = task_metrics(scores[b], test_y), task_metrics(scores[REFERENCE], test_y)
        for k in ("gap@20", "coverage@80P"):
            _figure(f"{k}[{b}]", got[k], "fraction", ref[k])
        if b != REFERENCE:
            for k, d in paired_drop(scores[REFERENCE], scores[b], test_y).items():
                _figure(f"{k}_drop[{b}]", 100 * d["drop"], "points", 1.0, sd_points=round(100 * d["sd"], 2))
                # GAP@20: the drop itself; coverage: not significantly beyond the 1-point margin.
                ok &= (d["drop"] if k == "gap@20" else d["drop"] - 2 * d["sd"]) <= 0.01
        cos = float(cosine_to_reference(feats[b][n:], feats[REFERENCE][n:]).mean())
        _figure(f"cosine_vs_fp32[{b},weights={weights}]", cos, "cosine", 1.0)
    _note("quality guard " + ("passed" if ok else "FAILED") + ": GAP@20 within 1 point of fp32's, coverage@80P "
          "not significantly more than 1 point below")
    return 1 if args.check and not ok else 0


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    return sorted(fl for fl in flags if fl.startswith(("avx512", "amx", "avx_vnni")))
