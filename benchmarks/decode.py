"""`python -m benchmarks decode [--quick]`: decode + 1 fps sampling + 299x299 RGB resize.

Same generated 720p H.264 clips (x264 medium, keyint 250, B-frames), same run:
- ours: transforms.decode (PyAV, selective decoding, FFmpeg threads, swscale bilinear resize);
- opencv: YouTube-8M's extractor loop (cv2.VideoCapture, read() until CAP_PROP_POS_MSEC passes
  the next 1 s mark, BGR->RGB, cv2.resize bilinear to 299x299);
- ffmpeg-cli: imageio-ffmpeg's ffmpeg binary, `-vf fps=1,scale=299:299:flags=bilinear` to raw RGB.
Figures are throughputs in video-seconds decoded per wall-clock second (ratio = ours / baseline).
"""
from __future__ import annotations

import argparse
import subprocess

import numpy as np

from benchmarks.common import best_time, clip, figure
from transforms.decode import DecodeConfig, decode_video


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks decode")
    parser.add_argument("--quick", action="store_true", help="one 20-s clip, one run each")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    clips = [clip(20.0)] if args.quick else [clip(60.0, seed=0), clip(60.0, seed=1, category=5)]
    duration = 20.0 if args.quick else 60.0
    repeats = args.repeats or (1 if args.quick else 3)
    decode_video(clips[0])  # warm caches (file pages, libraries) for everyone alike
    totals = {"ours": 0.0, "full": 0.0, "opencv": 0.0, "ffmpeg": 0.0}
    counts = {}
    for path in clips:
        t, ours = best_time(lambda: decode_video(path, DecodeConfig()), repeats)
        totals["ours"] += t
        t, _ = best_time(lambda: decode_video(path, DecodeConfig(selective=False)), repeats)
        totals["full"] += t
        t, cv_frames = best_time(lambda: opencv_yt8m(path), repeats)
        totals["opencv"] += t
        t, ff_frames = best_time(lambda: ffmpeg_cli(path), repeats)
        totals["ffmpeg"] += t
        counts[path] = (len(ours.frames), len(cv_frames), len(ff_frames))
    video_s = duration * len(clips)
    speed = {k: video_s / v for k, v in totals.items()}
    frames = [c[0] for c in counts.values()]
    figure("decode_vs_opencv_yt8m", speed["ours"], "video-s/s", speed["opencv"],
           clips=len(clips), frames_per_clip=frames)
    figure("decode_vs_ffmpeg_cli", speed["ours"], "video-s/s", speed["ffmpeg"],
           clips=len(clips), frames_per_clip=frames)
    figure("decode_selective_vs_full", speed["ours"], "video-s/s", speed["full"], clips=len(clips))
    return 0
