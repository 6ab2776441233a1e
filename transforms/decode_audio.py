"""A video's audio, read in the same pass over the container as its frames: one window per target.

    track = AudioWindows(stream, origin_s, step_s, count)   # stream: the audio stream, or None
    track.feed(packet)        # every audio packet the demuxer reads, in file order
    track.close_at(T)         # the video gave T samples: only their windows are still wanted
    track.full                # True once those windows have heard all the audio they can
    windows = track.windows(T)   # float32[T, WINDOW_SAMPLES], 16 kHz mono, for targets 0..T-1

Target k stands for `k * step_s` seconds after the video's first frame (the frames' sampling
grid); its window is the WINDOW_SAMPLES samples (0.975 s) from there, the span of one log-mel
example. Audio is placed by its own timestamps (decoded frames resampled to 16 kHz mono by
FFmpeg), so the two streams stay aligned whatever their interleaving. What no audio covers is
silence: a video without an audio stream gets an all-silent track and source "none"; audio
shorter than the video leaves its last windows silent, audio past the last target is dropped:
packets that start after the last window a video may have (max_frames targets) are not even
decoded, nor, once the video's sample count is known, those after its last window.
Packets that fail to decode are skipped and counted (AudioStats.decode_errors); a stream FFmpeg
cannot decode at all, or none of whose packets decodes, is "undecodable" (silent). Samples are
finite and within [-1, 1] (NaN and infinities are silence, louder samples clipped). Memory is
bounded by the windows themselves (`count` x 62 KB at most) and one resampled frame
(MAX_FRAME_SECONDS), whatever the file's timestamps and rates say; packets ending well before
the video starts are not decoded either.
"""
from __future__ import annotations

import dataclasses
import math
import time

import av
import numpy as np

from model.audio.constants import SAMPLE_RATE, WINDOW_SAMPLES

SOURCES = ("stream", "none", "undecodable")
# Decoded frames are resampled one at a time: one that would resample to more than this (a
# hostile stream declaring a few hertz) or that declares a rate no sound has is skipped as an
# error, so memory stays bounded whatever a packet holds.
MAX_FRAME_SECONDS = 10.0
MIN_SAMPLE_RATE = 1000
# Packets that end this long before the video's first frame are not decoded (the decoder gets
# a little lead-in before the first window).
LEAD_IN_S = 1.0


@dataclasses.dataclass
class AudioStats:
    """source: "stream" (audio decoded), "none" (no audio stream), "undecodable" (a stream
    FFmpeg cannot decode, or not one sample out of its packets). codec: the audio codec's name
    ("" without one). packets / decode_errors: audio packets read / failing to decode (or
    frames the resampler refused). skipped: packets read but not decoded (before the video
    starts, after the last window). heard_s: how far the audio reached, in seconds after the
    video's first frame. decode_s: wall seconds in the audio decoder and resampler."""

    source: str = "none"
    codec: str = ""
    packets: int = 0
    decode_errors: int = 0
    skipped: int = 0
    heard_s: float = 0.0
    decode_s: float = 0.0


def pick_audio_stream(container):
    """The audio stream to hear: the default-disposition one, else the first; None without."""
    streams = [s for s in container.streams.audio if s.codec_context is not None]
    if not streams:
        return None
    return next((s for s in streams if s.disposition & 0x1), streams[0])  # AV_DISPOSITION_DEFAULT


class AudioWindows:
    """Collects the windows of targets 0..count-1 from an audio stream's packets (module docstring).

    stream: the av.AudioStream to decode, or None (a silent track, source "none").
    origin_s: the video's first presentation time in seconds (the targets' zero).
    step_s: seconds between targets. count: the most targets there can be (max_frames).
    """

    def __init__(self, stream, origin_s: float, step_s: float, count: int):
        self.stats = AudioStats()
        self._origin = origin_s
        self._step = step_s * SAMPLE_RATE  # target spacing in samples (may be fractional)
        self._count = count
        self._windows: dict[int, np.ndarray] = {}
        self._reached = 0  # samples (from the origin) the audio has reached
        self._targets: int | None = None  # set by close_at
        self._past_end = False  # a packet started after the last window
        self._stream = stream
        self._resampler = None
        # Seconds per tick of the stream's packets, as a float: Fraction arithmetic per packet
        # cost more than decoding them.
        self._tick_s = float(stream.time_base) if stream is not None and stream.time_base else None
        if stream is not None:
            self.stats.source, self.stats.codec = "stream", stream.codec_context.name
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    @property
    def stream_index(self) -> int | None:
        return None if self._stream is None else self._stream.index

    def close_at(self, targets: int) -> None:
        """Only the windows of targets 0..targets-1 are wanted from now on."""
        self._targets = targets
        self._count = min(self._count, targets)

    @property
    def full(self) -> bool:
        """True once close_at was called and its windows can get no more audio."""
        if self._targets is None:
            return False
        if self._stream is None or self.stats.source != "stream" or self._targets == 0:
            return True
        return self._past_end or self._reached >= self._end()

    def feed(self, packet: av.Packet | None) -> None:
        """Decodes one audio packet (None: flush) and places its samples; a packet that fails to
        decode is counted and skipped."""
        if self._resampler is None or self.stats.source != "stream":
            return
        if packet is not None:
            self.stats.packets += 1
            if self._after_last_window(packet):
                self._past_end = True
                self.stats.skipped += 1
                return
            if self._before_the_video(packet):
                self.stats.skipped += 1
                return
        start = time.perf_counter()
        try:
            frames = self._stream.codec_context.decode(packet)
        except av.error.EOFError:
            frames = []
        except av.error.FFmpegError:
            self.stats.decode_errors += packet is not None  # a failed flush is no packet's
            frames = []
        try:
            for frame in frames:
                self._resample(frame)
            if packet is None:
                self._place_resampled(self._resampler.resample(None), None)
        except (av.error.FFmpegError, ValueError):
            # The stream changed format or rate mid-way: a new resampler takes what follows.
            self.stats.decode_errors += 1
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        if packet is None and self.stats.packets and not self._reached:
            self.stats.source = "undecodable"  # packets, but not a sample out of them
        self.stats.decode_s += time.perf_counter() - start

    def mark_undecodable(self) -> None:
        self.stats.source = "undecodable"

    def starts_s(self, targets: int) -> np.ndarray:
        """float64[targets]: where each window starts, in seconds after the video's first frame
        (its target's time)."""
        return np.array([self._start(k) / SAMPLE_RATE for k in range(targets)], np.float64)

    def windows(self, targets: int) -> np.ndarray:
        """float32[targets, WINDOW_SAMPLES]: the audio of each target's window, silent where
        no audio was heard."""
        out = np.zeros((targets, WINDOW_SAMPLES), np.float32)
        for k, window in self._windows.items():
            if k < targets:
                out[k] = window
        return out

    # ---- placing samples ---------------------------------------------------------------------

    def _start(self, k: int) -> int:
        return math.floor(k * self._step)

    def _end(self) -> int:
        """Where the last window that can still be wanted ends (samples from the origin)."""
        return self._start(max(0, self._count - 1)) + WINDOW_SAMPLES

    def _after_last_window(self, packet: av.Packet) -> bool:
        """Whether `packet` starts after the last window; without a pts, whether the audio
        placed so far (which it would follow) has."""
        if packet.pts is None or self._tick_s is None:
            return self._reached >= self._end()
        return (packet.pts * self._tick_s - self._origin) * SAMPLE_RATE >= self._end()

    def _before_the_video(self, packet: av.Packet) -> bool:
        """Whether `packet` ends more than LEAD_IN_S before the video's first frame."""
        if packet.pts is None or self._tick_s is None:
            return False
        return (packet.pts + (packet.duration or 0)) * self._tick_s - self._origin < -LEAD_IN_S

    def _resample(self, frame: av.AudioFrame) -> None:
        rate = frame.sample_rate or 0
        if rate < MIN_SAMPLE_RATE or frame.samples > MAX_FRAME_SECONDS * rate:
            self.stats.decode_errors += 1
            return
        self._place_resampled(self._resampler.resample(frame), frame)

    def _place_resampled(self, frames: list, source: av.AudioFrame | None) -> None:
        """Places resampled frames. Their own pts (the resampler's output counts 1/SAMPLE_RATE
        ticks from the input's timestamps; a frame needing no conversion keeps its own) wins,
        else the `source` frame's pts, else right after the previous samples."""
        position = None
        for out in frames:
            samples = out.to_ndarray().reshape(-1)
            if not np.isfinite(samples).all():
                samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
            samples = np.clip(samples, -1.0, 1.0)
            tick = out.time_base if out.pts is not None else None
            if tick is not None:
                position = round(out.pts * SAMPLE_RATE * tick.numerator / tick.denominator
                                 - self._origin * SAMPLE_RATE)
            elif position is None:
                position = self._source_position(source)
            self._place(position, samples)
            position += len(samples)

    def _source_position(self, frame: av.AudioFrame | None) -> int:
        """Where a decoded frame starts (samples from the origin): its pts, else the end of what
        was placed so far."""
        if frame is None or frame.pts is None or frame.time_base is None:
            return self._reached
        return round((float(frame.pts * frame.time_base) - self._origin) * SAMPLE_RATE)

    def _place(self, position: int, samples: np.ndarray) -> None:
        """Copies `samples` (starting `position` samples after the origin) into every window
        they overlap."""
        end = position + len(samples)
        self._reached = max(self._reached, end)
        self.stats.heard_s = self._reached / SAMPLE_RATE
        if end <= 0 or not len(samples):
            return
        first = max(0, math.floor((position - WINDOW_SAMPLES) / self._step) + 1)
        last = min(self._count - 1, math.floor((end - 1) / self._step))
        for k in range(first, last + 1):
            lo = self._start(k)
            a, b = max(position, lo), min(end, lo + WINDOW_SAMPLES)
            if a >= b:
                continue
            window = self._windows.get(k)
            if window is None:
                window = self._windows[k] = np.zeros(WINDOW_SAMPLES, np.float32)
            window[a - lo:b - lo] = samples[a - position:b - position]
