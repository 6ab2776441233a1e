"""Shared benchmark helpers: generated clips (cached under .cache/bench/), timing, JSON figures."""
from __future__ import annotations

import functools
import json
import os
import statistics
import time
from collections.abc import Callable

from jobgraph.memory import peak_rss_mib as peak_rss_mb  # noqa: F401 - re-exported for benchmarks
from transforms.synthetic_video import VideoSpec, write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE_DIR = os.path.join(REPO, ".cache", "bench")


def clip(duration_s: float = 60.0, width: int = 1280, height: int = 720, fps: float = 30.0,
         seed: int = 0, category: int = 3) -> str:
    """Path of a cached H.264 (x264 "medium": B-frames, keyint 250) category-scene clip."""
    spec = VideoSpec(codec="h264", duration_s=duration_s, fps=fps, width=width, height=height,
                     content="scene", category=category, seed=seed, preset="medium", crf=23)
    os.makedirs(CACHE_DIR, exist_ok=True)
    name = f"scene_h264_{width}x{height}_{fps:g}fps_{duration_s:g}s_c{category}_s{seed}.mp4"
    path = os.path.join(CACHE_DIR, name)
    if not os.path.exists(path):
        tmp = path + ".tmp.mp4"
        write_video(tmp, spec)
        os.replace(tmp, path)
    return path


def render_graph_config(out: str, videos: str, project: str | None = None) -> str:
    """The root klio-job.yaml with its outputs under `out`, its videos at `videos`, the demo's
    model and PCA by absolute path (and its GCP project renamed, for an emulator); returns the
    path of the rendered file."""
    with open(os.path.join(REPO, "klio-job.yaml"), encoding="utf-8") as fh:
        text = fh.read()
    text = text.replace("demo-output/", f"{out}/").replace("demo/videos", videos)
    text = text.replace("demo/", f"{REPO}/demo/")
    if project:
        text = text.replace("video-iab-local", project)
    path = os.path.join(out, "klio-job.yaml")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """(median seconds over `repeats` runs, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


MATRIX_FLAGS = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


@functools.cache
def cpu() -> dict:
    """The CPU a figure was measured on: model name, logical CPUs, and which of the AVX-512 /
    VNNI / BF16 / AMX features it has (they decide what the embedding backends can reach)."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "cpus": os.cpu_count(), "flags": [f for f in MATRIX_FLAGS if f in flags]}


def figure(name: str, value: float, unit: str, baseline: float | None, **extra) -> dict:
    """Print and return one figure. Values are throughputs (higher is better), so
    ratio = ours / baseline > 1 means we are faster. baseline None: a figure with nothing to
    compare against in the same run (ratio None). Every figure names the CPU it ran on."""
    ratio = None if not baseline else round(value / baseline, 3)
    record = {"figure": name, "value": round(value, 4), "unit": unit,
              "baseline": None if baseline is None else round(baseline, 4), "ratio": ratio}
    record.update(extra)
    record["cpu"] = cpu()
    print(json.dumps(record), flush=True)
    return record
