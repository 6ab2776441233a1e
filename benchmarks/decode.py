"""`python -m benchmarks decode [--quick] [--parts P,...] [--check]`: decode + 1 fps sampling +
299x299 RGB resize, where its time goes, and the fast decode mode with its quality guard.

Parts (all by default; `--profile` is `--parts profile,fast`):
compare  the same generated 720p H.264 clips (x264 medium, keyint 250, B-frames), same run:
         ours: transforms.decode (PyAV, selective decoding, FFmpeg threads, swscale bilinear);
         opencv: YouTube-8M's extractor loop (cv2.VideoCapture, read() until CAP_PROP_POS_MSEC
         passes the next 1 s mark, BGR->RGB, cv2.resize bilinear to 299x299); ffmpeg-cli:
         imageio-ffmpeg's ffmpeg, `-vf fps=1,scale=299:299:flags=bilinear` to raw RGB; and our
         decoder without selective decoding. Throughputs in video-seconds per second.
profile  where one exact decode's time goes, per 60-s 720p clip, at one FFmpeg thread (a Beam
         worker's setting), from DecodeStats: demux; codec, split into the loop filter (exact
         minus fast: the filter on non-key frames) and the rest (entropy decoding and
         reconstruction, which libavcodec does not time apart); scaling + RGB conversion;
         Python (inspection, planning). Then the conversion alone on the clip's sampled frames:
         scaling to 299x299 YUV, YUV->RGB, both in one swscale call as rgb24 (what we do) and
         as planar gbrp (not used: see transforms/decode_fast.py), and YUV->RGB at full size
         (what a decode-everything loop pays per frame).
fast     DecodeConfig(mode="fast") vs exact, alternating, one thread: video-s/s and the PSNR of
         the fast samples against the exact ones (guard: decode_fast.PSNR_MEAN_MIN_DB on the
         mean over the samples that differ, PSNR_FLOOR_DB on the worst).
guard    the embedding backends' quality guard (model/embedding/quality.py) applied to decoding:
         a cached clip of the synthetic labelled frame task (benchmarks.common.labelled_clip) is
         decoded exact and fast and embedded (--backend); a linear probe trained on the exact
         features of the even samples scores the odd samples' exact and fast features. Guard:
         GAP@20 drop <= 1 point, coverage@80P drop - 2 sd <= 1 point (as benchmarks backends).
`--check` exits 1 when the PSNR guard or the quality guard fails.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import CACHE_DIR, best_time, clip, figure, labelled_clip
from transforms import decode_fast
from transforms.decode import DecodeConfig, VideoDecoder, decode_video

PARTS = ("compare", "profile", "fast", "guard")
SIZE = 299


def opencv_yt8m(path: str, fps: float = 1.0, max_frames: int = 300) -> list[np.ndarray]:
    """YouTube-8M's frame_iterator (extract_tfrecords_main.py) plus the resize its graph does."""
    import cv2

    capture = cv2.VideoCapture(path)
    every_ms = 1000.0 / fps
    last_ts = -99999.0
    frames = []
    while len(frames) < max_frames:
        while capture.get(cv2.CAP_PROP_POS_MSEC) < every_ms + last_ts:
            if not capture.read()[0]:
                return frames
        last_ts = capture.get(cv2.CAP_PROP_POS_MSEC)
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        frames.append(cv2.resize(rgb, (299, 299), interpolation=cv2.INTER_LINEAR))
    capture.release()
    return frames


def ffmpeg_cli(path: str, fps: float = 1.0, max_frames: int = 300) -> np.ndarray:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path,
           "-vf", f"fps={fps:g},scale=299:299:flags=bilinear", "-frames:v", str(max_frames),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    data = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(data, np.uint8).reshape(-1, 299, 299, 3)


def _note(msg: str) -> None:
    print(f"[decode] {msg}", file=sys.stderr, flush=True)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks decode",
                                     description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true",
        help="compare on one 20-s clip, profile/fast on one 60-s clip, a 300-frame guard")
    add("--repeats", type=int, default=None,
        help="runs per variant (default 3, --quick 1; profile/fast at least 2)")
    add("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    add("--profile", action="store_true", help="only the profile and the fast mode")
    add("--backend", default="openvino-int8", help="embedding backend of the guard")
    add("--guard-frames", type=int, default=None, help="labelled frames (default 600, --quick 300)")
    add("--check", action="store_true", help="exit 1 if a guard fails")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.parts = ["profile", "fast"] if args.profile else parts
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.guard_frames = args.guard_frames or (300 if args.quick else 600)
    return args


def main(argv: list[str]) -> int:
    args = _parse(argv)
    ok = True
    if "compare" in args.parts:
        _compare(args)
    if "profile" in args.parts or "fast" in args.parts:
        long_clips = [clip(60.0, seed=0)]
        if not args.quick:
            long_clips.append(clip(60.0, seed=1, category=5))
        runs = _alternate(long_clips, max(2, args.repeats))
        if "profile" in args.parts:
            _profile(runs, long_clips)
        if "fast" in args.parts:
            ok &= _fast(runs)
    if "guard" in args.parts:
        ok &= quality_guard(args.backend, args.guard_frames)
    return 1 if args.check and not ok else 0


# ---- compare: ours against the baselines ------------------------------------------------------

def _compare(args: argparse.Namespace) -> None:
    """Ours (exact, default threads) against OpenCV's loop, the ffmpeg CLI and a full decode."""
    clips = [clip(20.0)] if args.quick else [clip(60.0, seed=0), clip(60.0, seed=1, category=5)]
    duration = 20.0 if args.quick else 60.0
    decode_video(clips[0])  # warm caches (file pages, libraries) for everyone alike
    totals = {"ours": 0.0, "full": 0.0, "opencv": 0.0, "ffmpeg": 0.0}
    frames = []
    for path in clips:
        t, ours = best_time(lambda: decode_video(path, DecodeConfig()), args.repeats)
        totals["ours"] += t
        t, _ = best_time(lambda: decode_video(path, DecodeConfig(selective=False)), args.repeats)
        totals["full"] += t
        t, _ = best_time(lambda: opencv_yt8m(path), args.repeats)
        totals["opencv"] += t
        t, _ = best_time(lambda: ffmpeg_cli(path), args.repeats)
        totals["ffmpeg"] += t
        frames.append(len(ours.frames))
    speed = {k: duration * len(clips) / v for k, v in totals.items()}
    figure("decode_vs_opencv_yt8m", speed["ours"], "video-s/s", speed["opencv"],
           clips=len(clips), frames_per_clip=frames)
    figure("decode_vs_ffmpeg_cli", speed["ours"], "video-s/s", speed["ffmpeg"],
           clips=len(clips), frames_per_clip=frames)
    figure("decode_selective_vs_full", speed["ours"], "video-s/s", speed["full"], clips=len(clips))


# ---- profile and fast mode: alternating exact and fast decodes ---------------------------------

def _timed_decode(path: str, mode: str) -> dict:
    """One decode at one FFmpeg thread: wall and CPU seconds, DecodeStats' stage seconds, frames
    uint8[T,299,299,3] and the clip's duration."""
    wall, cpu = time.perf_counter(), time.process_time()
    video = decode_video(path, DecodeConfig(threads=1, mode=mode))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = video.stats
    return {"wall_s": wall, "cpu_s": cpu, "demux_s": s.demux_s, "codec_s": s.codec_s,
            "convert_s": s.convert_s, "frames": video.frames, "duration_s": video.duration_s,
            "decoded": s.packets_decoded, "packets": s.packets}


def _alternate(paths: list[str], repeats: int) -> list[dict]:
    """Per clip: {"exact": fastest exact run, "fast": fastest fast run}, the two modes run in
    turn `repeats` times (the machine's speed drifts; alternating exposes both alike)."""
    decode_video(paths[0], DecodeConfig(threads=1))  # warm file pages and libraries
    out = []
    for path in paths:
        best: dict[str, dict] = {}
        for _ in range(repeats):
            for mode in decode_fast.MODES:
                run = _timed_decode(path, mode)
                if mode not in best or run["wall_s"] < best[mode]["wall_s"]:
                    best[mode] = run
        out.append(best)
    return out


def _per_clip(runs: list[dict], mode: str, key: str) -> float:
    """Mean of `key` over the clips' best `mode` runs (seconds per clip)."""
    return float(np.mean([r[mode][key] for r in runs]))


def _profile(runs: list[dict], paths: list[str]) -> None:
    """The stage figures of an exact decode, then the conversion alone (seconds per clip)."""
    total = _per_clip(runs, "exact", "wall_s")
    codec, codec_fast = _per_clip(runs, "exact", "codec_s"), _per_clip(runs, "fast", "codec_s")
    stages = {
        "demux": _per_clip(runs, "exact", "demux_s"),
        "codec": codec,
        "codec_loop_filter": codec - codec_fast,
        "codec_entropy_and_reconstruction": codec_fast,
        "convert": _per_clip(runs, "exact", "convert_s"),
    }
    stages["python"] = total - stages["demux"] - codec - stages["convert"]
    clip_s = _per_clip(runs, "exact", "duration_s")
    figure("decode_profile[total]", total, "s/clip", None, clip_s=round(clip_s, 1), threads=1,
           cpu_s=round(_per_clip(runs, "exact", "cpu_s"), 3), clips=len(runs),
           packets_decoded=[r["exact"]["decoded"] for r in runs], packets=[r["exact"]["packets"] for r in runs])
    for name, seconds in stages.items():
        figure(f"decode_profile[{name}]", seconds, "s/clip", None, share=round(seconds / total, 3))
    per_frame = _conversion_ms(paths[0])
    samples = float(np.mean([len(r["exact"]["frames"]) for r in runs]))
    for name, ms in per_frame.items():
        figure(f"convert_profile[{name}]", ms * samples / 1000, "s/clip", None,
               ms_per_frame=round(ms, 3), samples_per_clip=samples, share=round(ms * samples / 1000 / total, 4))


def _conversion_ms(path: str, repeats: int = 5) -> dict[str, float]:
    """Milliseconds per sampled frame of `path` (best of `repeats`) for the conversion's parts."""
    import av

    with VideoDecoder(path, DecodeConfig(threads=1)) as decoder:
        frames = [frame for _, frame in decoder.source_frames()]
    interpolation = DecodeConfig().interpolation
    reformatter = av.video.reformatter.VideoReformatter()

    def to(fmt: str | None, size: int | None = SIZE):
        """fmt None: scaling alone, to the frame's own (YUV) format, left in FFmpeg's buffers."""
        if fmt is None:
            return lambda f: reformatter.reformat(f, width=size, height=size, interpolation=interpolation)
        return lambda f: reformatter.reformat(f, width=size, height=size, format=fmt,
                                              interpolation=interpolation).to_ndarray()

    variants = {"scale_to_299_yuv": to(None), "scale_and_convert:rgb24": to("rgb24"),
                "scale_and_convert:gbrp(not_used)": to("gbrp"), "yuv_to_rgb_full_size": to("rgb24", None)}
    ms = {}
    for name, fn in variants.items():
        best = min(_seconds(lambda: [fn(f) for f in frames]) for _ in range(repeats))
        ms[name] = 1000 * best / len(frames)
    ms["yuv_to_rgb_at_299(rgb24_minus_scaling)"] = ms["scale_and_convert:rgb24"] - ms["scale_to_299_yuv"]
    return ms


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _fast(runs: list[dict]) -> bool:
    """Fast vs exact throughput and the PSNR of the fast samples; True when the PSNR guard holds."""
    video_s = sum(r["exact"]["duration_s"] for r in runs)
    speed = {m: video_s / sum(r[m]["wall_s"] for r in runs) for m in decode_fast.MODES}
    cpu = {m: round(_per_clip(runs, m, "cpu_s"), 3) for m in decode_fast.MODES}
    codec = {m: round(_per_clip(runs, m, "codec_s"), 3) for m in decode_fast.MODES}
    figure("decode_fast_vs_exact", speed["fast"], "video-s/s", speed["exact"], threads=1, clips=len(runs),
           cpu_s_per_clip=[cpu["fast"], cpu["exact"]], codec_s_per_clip=[codec["fast"], codec["exact"]],
           cpu_ratio=round(cpu["exact"] / cpu["fast"], 3))
    psnr = np.concatenate([decode_fast.sample_psnr(r["fast"]["frames"], r["exact"]["frames"]) for r in runs])
    return _psnr_figure("decode_fast_psnr", psnr)


def _psnr_figure(name: str, psnr: np.ndarray, **extra) -> bool:
    summary = decode_fast.psnr_summary(psnr)
    figure(name, summary["mean_db"], "dB", None, min_db=round(summary["min_db"], 2),
           identical=summary["identical"], samples=summary["samples"],
           mean_min_db=decode_fast.PSNR_MEAN_MIN_DB, floor_db=decode_fast.PSNR_FLOOR_DB,
           passed=summary["passed"], **extra)
    _note(f"{name}: " + ("passed" if summary["passed"] else "FAILED") +
          f" (mean {summary['mean_db']:.1f} dB >= {decode_fast.PSNR_MEAN_MIN_DB:g}, "
          f"min {summary['min_db']:.1f} dB >= {decode_fast.PSNR_FLOOR_DB:g})")
    return summary["passed"]


# ---- guard: the embedding backends' quality guard on fast decoding ----------------------------

def quality_guard(backend: str = "openvino-int8", n: int = 300) -> bool:
    """Prints the guard figures of fast decoding (see the module docstring: `n` labelled frames,
    embedded by `backend`); True when GAP@20, coverage@80P and the clip's PSNR guard hold.
    Other benchmarks (e2e with fast decoding) can call it to print the guard in their run."""
    from model.embedding.quality import paired_drop, task_metrics, train_linear_probe

    t = time.perf_counter()
    path, labels = labelled_clip(n)
    _note(f"labelled clip of {n} frames ready in {time.perf_counter() - t:.0f} s: {path}")
    decoded = {m: decode_video(path, DecodeConfig(threads=1, max_frames=n, mode=m)).frames
               for m in decode_fast.MODES}
    if any(len(f) != n for f in decoded.values()):
        raise RuntimeError(f"the labelled clip gave {[len(f) for f in decoded.values()]} samples, not {n}")
    ok = _psnr_figure("decode_fast_psnr[guard clip]", decode_fast.sample_psnr(decoded["fast"], decoded["exact"]))
    embed = _guard_embedder(backend)
    exact = embed(decoded["exact"])
    fast = embed(decoded["fast"][1::2])
    probe = train_linear_probe(exact[0::2], labels[0::2])
    test_y = labels[1::2]
    scores = {"exact": probe(exact[1::2]), "fast": probe(fast)}
    got, ref = task_metrics(scores["fast"], test_y), task_metrics(scores["exact"], test_y)
    for k in ("gap@20", "coverage@80P"):
        figure(f"{k}[decode=fast]", got[k], "fraction", ref[k], backend=backend, test_frames=len(test_y))
    for k, d in paired_drop(scores["exact"], scores["fast"], test_y).items():
        figure(f"{k}_drop[decode=fast]", 100 * d["drop"], "points", 1.0, sd_points=round(100 * d["sd"], 2))
        # GAP@20: the drop itself; coverage: not significantly beyond the 1-point margin.
        ok &= (d["drop"] if k == "gap@20" else d["drop"] - 2 * d["sd"]) <= 0.01
    _note("quality guard " + ("passed" if ok else "FAILED") + ": GAP@20 of fast decoding within 1 point of "
          "exact's, coverage@80P not significantly more than 1 point below, PSNR guard held")
    return ok


def _guard_embedder(backend: str):
    """The features job's embedder (seeded weights, seed 0) under `backend`, as benchmarks e2e
    builds it: `embed(uint8[N,299,299,3]) -> float32[N,2048]`."""
    import os

    from model.embedding.config import EmbedderConfig
    from transforms.calibration import embedder_for

    cache = os.path.join(os.path.dirname(CACHE_DIR), "embed-backends")
    return embedder_for(EmbedderConfig(weights="seeded", seed=0, backend=backend, cache_dir=cache)).embed
