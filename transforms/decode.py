"""PyAV decoding: sample a video at a fixed rate, resized whole to SIZE x SIZE RGB by FFmpeg.

    with VideoDecoder(path, DecodeConfig()) as decoder:
        decoder.info                       # VideoInfo, known before any frame is decoded
        for frame in decoder.frames():     # SampledFrame: uint8[299,299,3] RGB + timestamp
            ...

Sampling: target k is at t_k seconds after the first frame, t_k = k / fps ("head": the first
`max_frames` targets, like YouTube-8M's first 300 s) or, for "uniform" when the video is longer
than max_frames / fps, t_k = k * duration / max_frames. The sample for t_k is the source frame on
screen at t_k (largest pts <= t_k, compared exactly in stream ticks), so timestamps are exact
presentation times, within one source frame of t_k, for constant and variable frame rates alike.
A target repeats a frame when the source has no new frame by then (fps above the source's).

Speed: FFmpeg threading is on, and packets no sample needs are not decoded (decode_plan.py).
Memory: decoded frames are converted one at a time; compressed packets of at most two GOPs are
held. Every bad input raises `VideoRejected` with a stable `reason` code (REASONS).
"""
from __future__ import annotations

import collections
import dataclasses
import fractions
import math
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np

from transforms import decode_plan
from transforms.decode_plan import PacketInfo

REASONS = ("empty-file", "file-too-large", "not-a-video", "no-video-stream", "frame-too-large",
           "too-long", "truncated", "corrupt", "no-frames", "unreadable")
_NOT_VIDEO_FORMATS = {"tty", "bin", "xbin", "idf", "adf", "lavfi"}
_NOT_VIDEO_CODECS = {"ansi", "bintext", "xbin", "idf"}
_POLICIES = ("head", "uniform")


class VideoRejected(Exception):
    """A video this job will not process; `reason` is a stable short code from REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self):
        return type(self), (self.reason, self.message)


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """Sampling policy and input limits.

    fps: samples per second of video. max_frames: at most this many samples per video.
    policy: "head" (first max_frames / fps seconds) or "uniform" (spread over the whole video).
    size: output frames are size x size RGB (whole frame, aspect ratio not kept, as YT8M).
    interpolation: swscale filter for the resize (BILINEAR, as YT8M's ResizeBilinear; AREA...).
    max_pixels / max_duration_s / max_file_bytes: inputs beyond these are rejected.
    threads: FFmpeg decoder threads (0 = one per core). selective: demux-level packet dropping
      and skip_frame (False decodes every packet: the reference path the tests compare to).
    max_decode_errors: packets that fail to decode before the video counts as corrupt.
    """

    fps: float = 1.0
    max_frames: int = 300
    policy: str = "head"
    size: int = 299
    interpolation: str = "BILINEAR"
    max_pixels: int = 4096 * 2304
    max_duration_s: float = 4 * 3600.0
    max_file_bytes: int = 8 * 2**30
    threads: int = 0
    selective: bool = True
    max_decode_errors: int = 3

    def __post_init__(self):
        if not self.fps > 0:
            raise ValueError(f"DecodeConfig.fps must be > 0, got {self.fps!r}")
        if self.max_frames < 1:
            raise ValueError(f"DecodeConfig.max_frames must be >= 1, got {self.max_frames!r}")
        if self.policy not in _POLICIES:
            raise ValueError(f"DecodeConfig.policy must be one of {_POLICIES}, got {self.policy!r}")
        if self.size < 8:
            raise ValueError(f"DecodeConfig.size must be >= 8, got {self.size!r}")

    def describe(self) -> str:
        """The sampling policy as stored in feature files, e.g. "head;fps=1;max_frames=300"."""
        return f"{self.policy};fps={self.fps:g};max_frames={self.max_frames};size={self.size}"


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says, before decoding. width/height are the coded (stored) sizes;
    rotation is applied per frame from its display matrix (DecodeStats.rotation)."""

    codec: str
    container: str
    width: int
    height: int
    duration_s: float | None  # declared duration of the video stream, when the file has one
    average_fps: float | None
    time_base: fractions.Fraction


@dataclasses.dataclass(frozen=True)
class SampledFrame:
    """One sample: `image` uint8[size,size,3] RGB; `timestamp_s` the source frame's presentation
    time (seconds after the first frame); `target_s` the sampling time it stands for."""

    index: int
    target_s: float
    timestamp_s: float
    image: np.ndarray


@dataclasses.dataclass
class DecodeStats:
    """Counters for one decode: packets demuxed / sent to the decoder, frames decoded."""

    packets: int = 0
    packets_decoded: int = 0
    frames_decoded: int = 0
    decode_errors: int = 0
    substituted: int = 0
    end_s: float | None = None
    rotation: int = 0  # clockwise degrees applied for display (0/90/180/270)
    mode: str = ""


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """A whole sampled video: frames uint8[T,size,size,3] RGB, timestamps_s float64[T]."""

    frames: np.ndarray
    timestamps_s: np.ndarray
    info: VideoInfo
    duration_s: float
    stats: DecodeStats


def decode_video(source: str | BinaryIO, config: DecodeConfig = DecodeConfig()) -> DecodedVideo:
    """Decode and stack all samples of `source` (a path FileSystems understands, or a file)."""
    with VideoDecoder(source, config) as decoder:
        samples = list(decoder.frames())
        info, stats = decoder.info, decoder.stats
    size = config.size
    frames = (np.stack([s.image for s in samples]) if samples
              else np.zeros((0, size, size, 3), np.uint8))
    timestamps = np.array([s.timestamp_s for s in samples], np.float64)
    duration = stats.end_s if stats.end_s is not None else (info.duration_s or 0.0)
    return DecodedVideo(frames=frames, timestamps_s=timestamps, info=info,
                        duration_s=float(duration), stats=stats)


class VideoDecoder:
    """Opens one video (checks every limit) and yields its samples; see the module docstring."""

    def __init__(self, source: str | BinaryIO, config: DecodeConfig = DecodeConfig()):
        self.config = config
        self.stats = DecodeStats()
        self._source = source
        self._file = None
        self._container = None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # ---- opening and limits -------------------------------------------------------------

    def _open(self) -> None:
        from transforms import decode_source

        cfg = self.config
        self._file, target, size = decode_source.open_source(self._source)
        if size == 0:
            raise VideoRejected("empty-file", "the file is empty (0 bytes)")
        if size is not None and size > cfg.max_file_bytes:
            raise VideoRejected("file-too-large",
                                f"file is {size} bytes, over the limit of {cfg.max_file_bytes}")
        structural = decode_source.structure_problem(self._file, size)
        try:
            self._container = av.open(target, mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            if structural:
                raise VideoRejected(structural[0], structural[1]) from exc
            if decode_source.has_container_signature(self._file):
                raise VideoRejected("corrupt", f"container cannot be parsed: {exc}") from exc
            raise VideoRejected("not-a-video", f"not a recognised video container: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise VideoRejected("unreadable", f"cannot read the file: {exc}") from exc
        container = self._container
        fmt = container.format.name
        if fmt in _NOT_VIDEO_FORMATS:
            raise VideoRejected("not-a-video", f"format {fmt!r} is not a video container")
        videos = [s for s in container.streams.video
                  if s.codec_context is not None and s.codec_context.name not in _NOT_VIDEO_CODECS]
        if not videos:
            if container.streams.video:
                raise VideoRejected("not-a-video", f"format {fmt!r} holds no real video stream")
            if not container.streams:
                raise VideoRejected("not-a-video", f"format {fmt!r} holds no streams")
            kinds = ",".join(sorted({s.type for s in container.streams}))
            raise VideoRejected("no-video-stream", f"no video stream (streams: {kinds})")
        if structural:
            raise VideoRejected(structural[0], structural[1])
        stream = max(videos, key=lambda s: (not s.disposition & 0x400,  # not an attached picture
                                            (s.codec_context.width or 0) * (s.codec_context.height or 0)))
        self._stream = stream
        cc = stream.codec_context
        pixels = (cc.width or 0) * (cc.height or 0)
        if pixels > cfg.max_pixels:
            raise VideoRejected("frame-too-large", f"frames are {cc.width}x{cc.height} = {pixels} "
                                f"pixels, over the limit of {cfg.max_pixels}")
        duration = _declared_duration(container, stream)
        if duration is not None and duration > cfg.max_duration_s:
            raise VideoRejected("too-long", f"video lasts {duration:.1f} s, over the limit of "
                                f"{cfg.max_duration_s:g} s")
        rate = stream.average_rate or stream.guessed_rate
        self.info = VideoInfo(codec=cc.name, container=fmt, width=cc.width or 0,
                              height=cc.height or 0, duration_s=duration,
                              average_fps=float(rate) if rate else None,
                              time_base=stream.time_base or fractions.Fraction(1, 90000))
        cc.thread_type = "AUTO"
        cc.thread_count = cfg.threads
        self._reformatter = av.video.reformatter.VideoReformatter()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._file is not None and self._file is not self._source:
            self._file.close()
        self._file = None

    def __enter__(self) -> "VideoDecoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- sampling -----------------------------------------------------------------------

    def _target_step(self) -> fractions.Fraction:
        """Seconds between targets."""
        cfg = self.config
        step = 1 / fractions.Fraction(cfg.fps).limit_denominator(1_000_000)
        if cfg.policy == "uniform":
            duration = self.info.duration_s
            if duration is None:
                duration = self._scan_duration()
            if duration > cfg.max_frames * step:
                step = fractions.Fraction(duration).limit_denominator(1_000_000) / cfg.max_frames
        return step

    def _scan_duration(self) -> float:
        """Duration from a demux-only pass (files whose header has none); reopens the source."""
        from transforms import decode_source

        file, target, _ = decode_source.open_source(self._source)
        try:
            with av.open(target) as container:
                stream = container.streams[self._stream.index]
                first = last = None
                for packet in container.demux(stream):
                    if packet.pts is None:
                        continue
                    end = packet.pts + (packet.duration or 0)
                    first = packet.pts if first is None else min(first, packet.pts)
                    last = end if last is None else max(last, end)
        finally:
            if file is not self._source:
                file.close()
        if first is None:
            raise VideoRejected("no-frames", "the video stream has no timestamped packets")
        return float((last - first) * stream.time_base)

    def frames(self) -> Iterator[SampledFrame]:
        """Yield the samples in order; raises VideoRejected for bad input (possibly mid-way)."""
        try:
            step = self._target_step()
            yield from self._frames(step)
        except VideoRejected:
            raise
        except av.error.FFmpegError as exc:
            raise VideoRejected("corrupt", f"decoding failed: {exc}") from exc
        if self.stats.frames_decoded == 0:
            raise VideoRejected("no-frames", "no frame could be decoded")

    def _frames(self, step: fractions.Fraction) -> Iterator[SampledFrame]:
        cfg = self.config
        stream = self._stream
        tb = self.info.time_base
        inspector = decode_plan.PacketInspector(self.info.codec, stream.codec_context.extradata)
        self.stats.mode = ("selective-parsed" if cfg.selective and inspector.parses
                           else "selective-skipframe" if cfg.selective else "full")
        max_ticks = math.floor(fractions.Fraction(cfg.max_duration_s) / tb)
        rate = self.info.average_fps
        frame_ticks = max(1, round(1 / (fractions.Fraction(rate) * tb))) if rate else 1
        gops: collections.deque[list[PacketInfo]] = collections.deque()
        current: list[PacketInfo] = []
        origin = None
        end_tick = None
        next_target = 0
        last_frame = None
        queue: collections.deque[tuple[int, int]] = collections.deque()  # (target, sample pts)
        emitted = 0

        def target_tick(k: int) -> int:
            return origin + math.floor(k * step / tb)

        def run_gop(gop, bound, next_closed):
            nonlocal next_target
            ticks = []
            while next_target < cfg.max_frames and (bound is None or target_tick(next_target) < bound):
                ticks.append((next_target, target_tick(next_target)))
                next_target += 1
            plan = decode_plan.plan_gop(gop, ticks, next_closed, inspector.parses, cfg.selective)
            queue.extend(plan.targets)
            return plan

        def decode_plan_packets(gop, plan):
            nonlocal last_frame, emitted
            cc = stream.codec_context
            for info, feed, is_sample in zip(gop, plan.feed, plan.sample):
                if not feed:
                    continue
                if cfg.selective and not inspector.parses:
                    want = "DEFAULT" if is_sample else "NONREF"
                    if cc.skip_frame != want:
                        cc.skip_frame = want
                for frame in self._decode(info.packet):
                    yield from self._match(frame, queue, last_frame, step, origin, tb)
                    last_frame = frame

        for packet in self._container.demux(stream):
            if packet.size == 0 and packet.pts is None:
                continue
            if packet.pts is None:
                raise VideoRejected("corrupt", "video packets carry no presentation timestamps")
            self.stats.packets += 1
            if packet.pts - (origin if origin is not None else packet.pts) > max_ticks:
                raise VideoRejected("too-long", f"video runs past the limit of {cfg.max_duration_s:g} s")
            ref, idr = inspector.inspect(packet)
            end = packet.pts + (packet.duration or frame_ticks)  # duration unknown: average frame
            info = PacketInfo(packet=packet, index=self.stats.packets - 1, pts=packet.pts, end=end,
                              keyframe=bool(packet.is_keyframe), ref=ref, idr=idr)
            end_tick = end if end_tick is None else max(end_tick, end)
            if packet.is_keyframe and current:
                gops.append(current)
                current = []
            current.append(info)
            if len(gops) == 2:
                gop, nxt = gops[0], gops[1]
                if origin is None:
                    origin = min(p.pts for p in gop)
                plan = run_gop(gop, min(p.pts for p in nxt), decode_plan.gop_is_closed(nxt))
                gops.popleft()
                yield from decode_plan_packets(gop, plan)
                if next_target >= cfg.max_frames:
                    break  # every target is planned: the rest of the file is not needed
        else:
            # End of stream: plan what is left.
            if current:
                gops.append(current)
            while gops:
                gop = gops.popleft()
                if origin is None:
                    origin = min(p.pts for p in gop)
                nxt = gops[0] if gops else None
                bound = min(p.pts for p in nxt) if nxt else end_tick
                plan = run_gop(gop, bound, decode_plan.gop_is_closed(nxt) if nxt else True)
                yield from decode_plan_packets(gop, plan)
            if origin is not None and end_tick is not None:
                self.stats.end_s = float((end_tick - origin) * tb)
        for frame in self._decode(None):  # flush the decoder
            yield from self._match(frame, queue, last_frame, step, origin, tb)
            last_frame = frame
        while queue:  # samples the decoder never produced: repeat the last frame
            k, _ = queue.popleft()
            if last_frame is None:
                break
            self.stats.substituted += 1
            yield self._sample(k, last_frame, step, origin, tb)
        if self.stats.end_s is not None:
            self._check_complete()
        if self.stats.decode_errors > self.config.max_decode_errors:
            raise VideoRejected("corrupt", f"{self.stats.decode_errors} packets failed to decode")

    def _decode(self, packet) -> list:
        if packet is not None:
            self.stats.packets_decoded += 1
        try:
            frames = self._stream.codec_context.decode(packet)
        except av.error.EOFError:
            return []
        except av.error.FFmpegError as exc:
            self.stats.decode_errors += 1
            if self.stats.decode_errors > self.config.max_decode_errors:
                raise VideoRejected("corrupt", f"packets fail to decode: {exc}") from exc
            return []
        self.stats.frames_decoded += len(frames)
        return frames

    def _match(self, frame, queue, last_frame, step, origin, tb) -> Iterator[SampledFrame]:
        """Emit the queued targets `frame` satisfies (frames arrive in presentation order)."""
        pts = frame.pts
        while queue and pts is not None and queue[0][1] < pts:
            k, _ = queue.popleft()  # its sample frame never came out of the decoder
            chosen = last_frame if last_frame is not None else frame
            self.stats.substituted += 1
            yield self._sample(k, chosen, step, origin, tb)
        while queue and queue[0][1] == pts:
            k, _ = queue.popleft()
            yield self._sample(k, frame, step, origin, tb)

    def _sample(self, k: int, frame, step, origin, tb) -> SampledFrame:
        size = self.config.size
        rgb = self._reformatter.reformat(frame, width=size, height=size, format="rgb24",
                                         interpolation=self.config.interpolation)
        image = rgb.to_ndarray()
        turns = _frame_turns(frame)
        self.stats.rotation = 90 * turns
        if turns:
            image = np.ascontiguousarray(np.rot90(image, k=-turns))
        return SampledFrame(index=k, target_s=float(k * step),
                            timestamp_s=float((frame.pts - origin) * tb), image=image)

    def _check_complete(self) -> None:
        """Reject files whose video data stops well before their declared duration (damaged or
        cut data the container structure does not show)."""
        declared, actual = self.info.duration_s, self.stats.end_s
        if declared is None or actual is None:
            return
        if declared - actual > max(0.5, 0.05 * declared):
            raise VideoRejected("corrupt", f"video data ends at {actual:.2f} s of a declared "
                                f"{declared:.2f} s")


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _frame_turns(frame) -> int:
    """Quarter turns clockwise the frame needs for display, from its display matrix
    (PyAV's `rotation` is the counter-clockwise angle of the display transform)."""
    return int(round(-(frame.rotation or 0) / 90.0)) % 4
