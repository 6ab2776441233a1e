"""Decode modes: "exact" (the default) and "fast", and the PSNR check that keeps "fast" honest.

exact  bit-exact decoding: each sample holds the pixels a full decode gives (decode_plan.py).
fast   the codec skips its in-loop deblocking filter on every frame but keyframes (libavcodec's
       `skip_loop_filter=nokey`); nothing else changes, so keyframe samples stay exact. H.264,
       HEVC and VP8 honour the option; FFmpeg's VP9 decoder ignores it and MPEG-4 Part 2 has
       no in-loop filter, so those decode exactly as in exact mode.

What "fast" costs: reference frames decoded without the filter drift from what the encoder saw,
and the drift grows along each GOP until the next keyframe. On the 60-s 720p benchmark clips
(x264 medium, keyint 250) the samples that differ stay at a PSNR of about 34 dB against exact
decoding on average, and no worse than about 27 dB late in a GOP; `python -m benchmarks decode`
prints both, and the classification guard (GAP@20, coverage@80%P) on a labelled clip. What was
measured and rejected (docs/decode.md): dropping unsampled B-references (x264's P-frames refer
to them: 16 dB at worst), skipping the filter on B-frames only (1.16x instead of 1.24x),
cheaper swscale filters (FAST_BILINEAR aliases: 24 dB against BILINEAR; POINT: 29 dB), and
planar RGB output (gbrp: at most 1.5% faster, but one level off in 0.2% of the values when the
source is not well above 299 px high, which would make even keyframes and VP9 inexact).

The mode a feature file was decoded with is part of its sampling description
(DecodeConfig.describe(): "...;decode=fast"; exact files keep the description they always had).
"""
from __future__ import annotations

import numpy as np

MODES = ("exact", "fast")

# Guards on the sampled frames of fast decoding against exact decoding (benchmarks decode and
# tests/features/test_decode_fast.py): the average sample, and the worst one (deepest in its GOP).
PSNR_MEAN_MIN_DB = 30.0
PSNR_FLOOR_DB = 25.0

# libavcodec AVDiscard names: "nokey" filters keyframes only; their pixels are exact, and every
# later frame of the GOP is predicted from unfiltered references.
_CODEC_OPTIONS = {"exact": {}, "fast": {"skip_loop_filter": "nokey"}}


def check_mode(mode: str) -> str:
    """`mode` if it is one of MODES, else ValueError."""
    if mode not in MODES:
        raise ValueError(f"DecodeConfig.mode must be one of {MODES}, got {mode!r}")
    return mode


def codec_options(mode: str) -> dict[str, str]:
    """AVOptions for the video decoder in `mode` (set before it opens)."""
    return dict(_CODEC_OPTIONS[check_mode(mode)])


def sample_psnr(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """PSNR in dB of each frame against its reference, float64[T] (inf where identical).

    Args:
      frames, reference: uint8[T,H,W,3], the same samples decoded two ways.
    """
    if frames.shape != reference.shape:
        raise ValueError(f"frames {frames.shape} and reference {reference.shape} differ in shape")
    diff = frames.astype(np.float64) - reference.astype(np.float64)
    mse = (diff ** 2).reshape(len(frames), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0 ** 2 / mse)


def psnr_summary(psnr: np.ndarray) -> dict:
    """{"mean_db", "min_db", "identical", "samples", "passed"} of per-sample PSNRs float64[T]:
    the mean is over the samples that differ (identical ones would make it infinite); passed:
    mean >= PSNR_MEAN_MIN_DB and min >= PSNR_FLOOR_DB."""
    finite = psnr[np.isfinite(psnr)]
    mean = float(finite.mean()) if len(finite) else float("inf")
    low = float(psnr.min()) if len(psnr) else float("inf")
    return {"mean_db": mean, "min_db": low, "identical": int(len(psnr) - len(finite)),
            "samples": int(len(psnr)), "passed": mean >= PSNR_MEAN_MIN_DB and low >= PSNR_FLOOR_DB}
