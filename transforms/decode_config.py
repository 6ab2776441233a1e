"""DecodeConfig: how videos are sampled and decoded, and the limits on what a decode may take.

Its own module, free of PyAV and Beam, so that the job settings' schema (transforms/job_settings.py)
takes its keys, types and defaults from it without loading the decoder.
"""
from __future__ import annotations

import dataclasses

from model.embedding.constants import INPUT_SIZE
from transforms import decode_fast

POLICIES = ("head", "uniform")


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """Sampling policy and input limits.

    fps: samples per second of video. max_frames: at most this many samples per video.
    policy: "head" (first max_frames / fps seconds) or "uniform" (spread over the whole video).
    size: output frames are size x size RGB (whole frame, aspect ratio not kept, as YT8M).
    interpolation: swscale filter for the resize (BILINEAR, as YT8M's ResizeBilinear; AREA...).
    max_pixels / max_duration_s / max_file_bytes: inputs beyond these are rejected. max_pixels
      holds for every decoded frame (a stream may change resolution), max_duration_s for the
      timestamps of every packet read (a header may declare no duration, or a wrong one).
    max_streams: files with more streams (of any kind) are rejected; FFmpeg probes each one.
    max_gop_bytes: compressed bytes one GOP may buffer for selective decoding; a longer GOP is
      decoded in order instead, so memory stays bounded for any keyframe interval.
    threads: FFmpeg decoder threads (0 = one per core). selective: demux-level packet dropping
      and skip_frame (False decodes every packet: the reference path the tests compare to).
    max_decode_errors: packets that fail to decode (and, counted apart, decoded frames whose
      timestamps go backwards) before the video counts as corrupt.
    mode: "exact" (bit-exact samples, the default) or "fast" (no in-loop deblocking on non-key
      frames where the codec allows it; see decode_fast.py).
    audio: also read the audio stream in the same pass, as one 16 kHz mono window per sample
      (decode_audio.py).
    """

    fps: float = 1.0
    max_frames: int = 300
    policy: str = "head"
    size: int = INPUT_SIZE
    interpolation: str = "BILINEAR"
    max_pixels: int = 4096 * 2304
    max_duration_s: float = 4 * 3600.0
    max_file_bytes: int = 8 * 2**30
    max_streams: int = 64
    max_gop_bytes: int = 256 * 2**20
    threads: int = 0
    selective: bool = True
    max_decode_errors: int = 3
    mode: str = "exact"
    audio: bool = False

    def __post_init__(self):
        decode_fast.check_mode(self.mode)
        if not self.fps > 0:
            raise ValueError(f"DecodeConfig.fps must be > 0, got {self.fps!r}")
        if self.max_frames < 1:
            raise ValueError(f"DecodeConfig.max_frames must be >= 1, got {self.max_frames!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"DecodeConfig.policy must be one of {POLICIES}, got {self.policy!r}")
        if self.size < 8:
            raise ValueError(f"DecodeConfig.size must be >= 8, got {self.size!r}")
        for name in ("max_pixels", "max_streams", "max_gop_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecodeConfig.{name} must be >= 1, got {getattr(self, name)!r}")

    def describe(self) -> str:
        """The sampling policy as stored in feature files, e.g.
        "head;fps=1;max_frames=300;size=299", plus ";decode=fast" for fast decoding (exact
        decoding keeps the description feature files always had)."""
        text = f"{self.policy};fps={self.fps:g};max_frames={self.max_frames};size={self.size}"
        return text if self.mode == "exact" else f"{text};decode={self.mode}"
