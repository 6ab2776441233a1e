"""Shared benchmark helpers: generated clips (cached under .cache/bench/), timing, JSON figures."""
from __future__ import annotations

import functools
import json
import os
import statistics
import time
from collections.abc import Callable

import av

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


def with_audio(path: str, kind: str = "speech", seed: int = 0) -> str:
    """Path of a cached copy of the clip at `path` with a sound track added (video packets as
    they are; `kind` of transforms/synthetic_audio.py, as long as the clip), AAC 44.1 kHz."""
    from transforms.synthetic_video import category_audio, with_audio_track

    out = f"{os.path.splitext(path)[0]}_audio-{kind}{seed}.mp4"
    if not os.path.exists(out):
        with av.open(path) as container:
            stream = container.streams.video[0]
            duration = float(stream.duration * stream.time_base)
        tmp = out + ".tmp.mp4"
        with_audio_track(path, tmp, lambda rate: category_audio(kind, seed, duration, rate))
        os.replace(tmp, out)
    return out


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


def labelled_clip(n: int, seed: int = 3, width: int = 1280, height: int = 720, fps: int = 10,
                  preset: str = "medium", crf: int = 23) -> tuple[str, "np.ndarray"]:
    """A cached H.264 clip of the synthetic labelled frame task, and its labels.

    Shows the `n` frames of `model.embedding.synthetic_frames(n, seed=seed)` upscaled to width x
    height, frame k exactly at t = k s, cross-fading to frame k+1 over the next second. With no
    cut (and x264's scene-cut detection off) every picture is predicted from the ones before it
    and a GOP runs its full 250 pictures (25 s at 10 fps), so the 1-fps samples lie 0 to 249
    pictures deep in their GOP, as in the 60-s scene clips (30 fps, a sample every 30 pictures):
    what decoding without the loop filter drifts over.

    Returns:
      (path, labels float32[n,C] in {0,1}); labels are stored next to the clip.
    """
    import numpy as np

    name = f"labelled_h264_{width}x{height}_{fps}fps_{preset}_n{n}_s{seed}"
    path = os.path.join(CACHE_DIR, name + ".mp4")
    labels_path = os.path.join(CACHE_DIR, name + ".labels.npy")
    if not (os.path.exists(path) and os.path.exists(labels_path)):
        from model.embedding.synthetic_frames import synthetic_frames

        frames, labels = synthetic_frames(n, seed=seed)
        os.makedirs(CACHE_DIR, exist_ok=True)
        tmp = path + ".tmp.mp4"
        _write_cross_fades(tmp, frames, width, height, fps,
                           {"preset": preset, "crf": str(crf), "sc_threshold": "0"})
        np.save(labels_path, labels)
        os.replace(tmp, path)
    return path, np.load(labels_path)


def _write_cross_fades(path: str, frames, width: int, height: int, fps: int,
                       options: dict[str, str]) -> None:
    """Encodes uint8[n,h,w,3] RGB `frames` as described in labelled_clip, with libx264 `options`."""
    import av
    import numpy as np

    def upscaled(image):  # uint16[height,width,3], room for the weighted sum below
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        return frame.reformat(width=width, height=height, format="rgb24",
                              interpolation="BILINEAR").to_ndarray().astype(np.uint16)

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        current = upscaled(frames[0])
        for k in range(len(frames)):
            following = upscaled(frames[k + 1]) if k + 1 < len(frames) else current
            for step in range(fps):
                mixed = (current * (fps - step) + following * step + fps // 2) // fps
                picture = av.VideoFrame.from_ndarray(mixed.astype(np.uint8), format="rgb24")
                for packet in stream.encode(picture):
                    container.mux(packet)
            current = following
        for packet in stream.encode():
            container.mux(packet)
