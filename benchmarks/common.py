"""Shared benchmark helpers: generated clips (cached under .cache/bench/), timing, JSON figures."""
from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

from transforms.synthetic_video import VideoSpec, write_video

CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "bench")


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


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """(median seconds over `repeats` runs, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB: VmHWM (the high-water mark of its own address
    space; ru_maxrss would also count what a spawning parent held before exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def figure(name: str, value: float, unit: str, baseline: float, **extra) -> dict:
    """Print and return one figure. Values are throughputs (higher is better), so
    ratio = ours / baseline > 1 means we are faster."""
    ratio = value / baseline
    record = {"figure": name, "value": round(value, 4), "unit": unit,
              "baseline": round(baseline, 4), "ratio": round(ratio, 3)}
    record.update(extra)
    print(json.dumps(record), flush=True)
    return record
