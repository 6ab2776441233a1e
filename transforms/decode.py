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
`mode="fast"` trades exactness for speed where the codec allows it (decode_fast.py); DecodeStats
times the stages (demux, codec, conversion) of every decode.
Memory: decoded frames are converted one at a time; compressed packets of at most two GOPs are
held, and a GOP whose packets pass `max_gop_bytes` is decoded in order as it is read instead
("sequential": every packet decoded, samples picked from the frames as they come out). Which
packets are decoded and which frame each target gets: decode_sampling.py, decode_targets.py.
Every bad input raises `VideoRejected` with a stable `reason` code (REASONS, decode_errors.py);
the limits hold for hostile files too: only regular files inside their folder are opened, only
known video containers reach FFmpeg (decode_source.py), every decoded frame is held to
max_pixels, and timestamps to max_duration_s as packets are read.
"""
from __future__ import annotations

import dataclasses
import fractions
import math
import time
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np

from transforms import decode_fast, decode_source
from transforms.decode_audio import AudioStats, AudioWindows, pick_audio_stream
from transforms.decode_config import DecodeConfig
from transforms.decode_errors import REASONS, VideoRejected, check_pixels
from transforms.decode_sampling import SamplingPass
from transforms.decode_targets import TargetClock

__all__ = ["REASONS", "AudioStats", "DecodeConfig", "DecodeStats", "DecodedVideo", "SampledFrame",
           "VideoDecoder", "VideoInfo", "VideoRejected", "decode_video"]

# Demuxers a video may be read with (any name of FFmpeg's comma-separated format names).
_VIDEO_DEMUXERS = {"mov", "mp4", "matroska", "webm", "mpegts", "avi", "flv", "mpeg", "ogg", "asf"}
_NOT_VIDEO_CODECS = {"ansi", "bintext", "xbin", "idf"}
_OWN_STREAM_DURATIONS = {"mov", "mp4"}  # demuxers whose headers give each stream its duration
# Audio is read on past the last video packet used until the windows are full, at most this far
# past the last window: interleaved files keep the streams much closer together than that.
_AUDIO_READ_AHEAD_S = 10.0


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
    out_of_order: int = 0  # decoded frames whose pts is below the previous frame's
    substituted: int = 0
    end_s: float | None = None
    rotation: int = 0  # clockwise degrees applied for display (0/90/180/270)
    # "full", "selective-parsed" or "selective-skipframe"; "+fast" in fast mode; "+sequential"
    # once a GOP outgrew max_gop_bytes
    mode: str = ""
    buffered_bytes_peak: int = 0  # most compressed bytes held for planning at once
    # Wall seconds per stage: reading packets (demuxer and file), inside the codec (entropy
    # decoding, reconstruction, loop filter), scaling + RGB conversion of the samples. The rest
    # of a decode is Python: packet inspection, planning, buffering.
    demux_s: float = 0.0
    codec_s: float = 0.0
    convert_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """A whole sampled video: frames uint8[T,size,size,3] RGB, timestamps_s float64[T]; with
    DecodeConfig.audio, audio float32[T, WINDOW_SAMPLES] (16 kHz mono, one window per sample,
    decode_audio.py), audio_timestamps_s float64[T] (where each window starts: its target's
    time) and audio_stats, else None."""

    frames: np.ndarray
    timestamps_s: np.ndarray
    info: VideoInfo
    duration_s: float
    stats: DecodeStats
    audio: np.ndarray | None = None
    audio_timestamps_s: np.ndarray | None = None
    audio_stats: AudioStats | None = None


def decode_video(source: str | BinaryIO, config: DecodeConfig = DecodeConfig()) -> DecodedVideo:
    """Decode and stack all samples of `source` (a path FileSystems understands, or a file)."""
    with VideoDecoder(source, config) as decoder:
        samples = list(decoder.frames())
        info, stats = decoder.info, decoder.stats
        audio, audio_stats = decoder.audio_windows(), decoder.audio_stats
        audio_starts = decoder.audio_starts_s()
    size = config.size
    frames = (np.stack([s.image for s in samples]) if samples
              else np.zeros((0, size, size, 3), np.uint8))
    timestamps = np.array([s.timestamp_s for s in samples], np.float64)
    duration = stats.end_s if stats.end_s is not None else (info.duration_s or 0.0)
    return DecodedVideo(frames=frames, timestamps_s=timestamps, info=info,
                        duration_s=float(duration), stats=stats, audio=audio,
                        audio_timestamps_s=audio_starts, audio_stats=audio_stats)


class VideoDecoder:
    """Opens one video (checks every limit) and yields its samples; see the module docstring."""

    def __init__(self, source: str | BinaryIO, config: DecodeConfig = DecodeConfig()):
        self.config = config
        self.stats = DecodeStats()
        self._source = source
        self._file = None
        self._container = None
        self._audio: AudioWindows | None = None
        self._samples = 0  # samples yielded so far
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # ---- opening and limits -------------------------------------------------------------

    def _open(self) -> None:
        """Opens the source and its container and picks the video stream, checking every limit
        that holds before decoding; sets self._file, _container, _stream and info."""
        target, size = self._open_file()
        structural = decode_source.structure_problem(self._file, size)
        self._container = self._parse_container(target, structural)
        videos = self._video_streams(self._container)
        if structural:
            raise VideoRejected(structural[0], structural[1])
        self._stream = _main_stream(videos)
        self.info = self._describe(self._container, self._stream)
        self._configure_decoder(self._stream.codec_context)
        self._reformatter = av.video.reformatter.VideoReformatter()
        self._audio_stream = pick_audio_stream(self._container) if self.config.audio else None

    def _open_file(self) -> tuple[str | BinaryIO, int | None]:
        """Opens the source (sets self._file) and checks its size and first bytes (sets
        self._demuxer); returns (what av.open reads, size in bytes or None)."""
        cfg = self.config
        self._file, target, size = decode_source.open_source(self._source)
        if size == 0:
            raise VideoRejected("empty-file", "the file is empty (0 bytes)")
        if size is not None and size > cfg.max_file_bytes:
            raise VideoRejected("file-too-large",
                                f"file is {size} bytes, over the limit of {cfg.max_file_bytes}")
        self._demuxer = decode_source.sniff_container(self._file)
        if self._demuxer is None:
            what = decode_source.describe_non_video(self._file)
            raise VideoRejected("not-a-video", f"the file is {what}, not a video" if what else
                                "the file does not start like any video container we accept")
        return target, size

    def _parse_container(self, target, structural: tuple[str, str] | None):
        """The opened container. When FFmpeg cannot parse it, a structural problem found in the
        bytes beforehand (e.g. "truncated") is the better reason than "corrupt"."""
        try:
            return self._open_container(target)
        except av.error.FFmpegError as exc:
            if structural:
                raise VideoRejected(structural[0], structural[1]) from exc
            raise VideoRejected("corrupt",
                                f"{self._demuxer} container cannot be parsed: {exc}") from exc
        except (OSError, EOFError) as exc:
            raise VideoRejected("unreadable", f"cannot read the file: {exc}") from exc

    def _video_streams(self, container) -> list:
        """The container's real video streams (at least one), after checking its format and
        its number of streams."""
        fmt = container.format.name
        if not set(fmt.split(",")) & _VIDEO_DEMUXERS:
            raise VideoRejected("not-a-video", f"format {fmt!r} is not a video container")
        if len(container.streams) > self.config.max_streams:
            raise VideoRejected("too-many-streams", f"the file has more than "
                                f"{self.config.max_streams} streams, the limit")
        videos = [s for s in container.streams.video
                  if s.codec_context is not None and s.codec_context.name not in _NOT_VIDEO_CODECS]
        if not videos:
            if container.streams.video:
                raise VideoRejected("not-a-video", f"format {fmt!r} holds no real video stream")
            if not container.streams:
                raise VideoRejected("not-a-video", f"format {fmt!r} holds no streams")
            kinds = ",".join(sorted({s.type for s in container.streams}))
            raise VideoRejected("no-video-stream", f"no video stream (streams: {kinds})")
        return videos

    def _describe(self, container, stream) -> VideoInfo:
        """What the headers say about `stream`, after checking its frame size and duration."""
        cfg = self.config
        cc = stream.codec_context
        check_pixels(cc.width, cc.height, cfg.max_pixels, "frames are")
        duration = _declared_duration(container, stream)
        if duration is not None and duration > cfg.max_duration_s:
            raise VideoRejected("too-long", f"video lasts {duration:.1f} s, over the limit of "
                                f"{cfg.max_duration_s:g} s")
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(codec=cc.name, container=container.format.name, width=cc.width or 0,
                         height=cc.height or 0, duration_s=duration,
                         average_fps=float(rate) if rate else None,
                         time_base=stream.time_base or fractions.Fraction(1, 90000))

    def _configure_decoder(self, cc) -> None:
        """Threads and FFmpeg's own pixel guard for the chosen stream's codec context."""
        cc.thread_type = "AUTO"
        cc.thread_count = self.config.threads
        # FFmpeg then refuses to allocate any frame far over the limit (a resolution switch
        # mid-stream), instead of decoding it for our own check to reject afterwards.
        cc.options = {"max_pixels": str(_decoder_pixel_guard(self.config)),
                      **decode_fast.codec_options(self.config.mode)}

    def _open_container(self, target):
        """av.open with the sniffed demuxer (no format probing), a cap on the streams FFmpeg
        creates, and probe decoders that decode no pictures (see `_probe_options`)."""
        cfg = self.config
        return av.open(target, mode="r", format=self._demuxer, metadata_errors="ignore",
                       options=_probe_options(cfg),
                       container_options={"max_streams": str(cfg.max_streams + 1)})

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
        file, target, _ = decode_source.open_source(self._source)
        try:
            with self._open_container(target) as container:
                stream = container.streams[self._stream.index]
                first = last = None
                for packet in self._timed_packets(container, stream):
                    end = packet.pts + (packet.duration or 0)
                    first = packet.pts if first is None else min(first, packet.pts)
                    last = end if last is None else max(last, end)
        finally:
            if file is not self._source:
                file.close()
        if first is None:
            raise VideoRejected("no-frames", "the video stream has no timestamped packets")
        return float((last - first) * stream.time_base)

    def _timed_packets(self, container, stream, audio: AudioWindows | None = None
                       ) -> Iterator[av.Packet]:
        """The packets of `stream` that hold a picture, in decode order, each with a pts. Rejects
        the video as "too-long" as soon as the timestamps read so far span more than
        max_duration_s (whatever the header declares), or as "corrupt" for a packet without pts.
        The audio stream's packets, read in the same pass, go to `audio` as they come."""
        tb = stream.time_base or fractions.Fraction(1, 90000)
        max_ticks = math.floor(fractions.Fraction(self.config.max_duration_s) / tb)
        lowest = highest = None
        heard = audio.stream_index if audio is not None else None
        demuxer = container.demux(stream) if heard is None else \
            container.demux(stream, container.streams[heard])
        while True:
            start = time.perf_counter()
            packet = next(demuxer, None)
            self.stats.demux_s += time.perf_counter() - start
            if packet is None:
                return
            if packet.stream_index == heard:
                if packet.size:
                    audio.feed(packet)
                if audio.full:
                    return  # the video is sampled and its windows are full
                continue
            if packet.pts is None:
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                raise VideoRejected("corrupt", "video packets carry no presentation timestamps")
            lowest = packet.pts if lowest is None else min(lowest, packet.pts)
            highest = packet.pts if highest is None else max(highest, packet.pts)
            if highest - lowest > max_ticks:
                raise VideoRejected("too-long", f"video timestamps span more than the limit of "
                                    f"{self.config.max_duration_s:g} s")
            if packet.size == 0:
                continue  # no picture; decoding an empty packet would end the decoder's stream
            yield packet

    def frames(self) -> Iterator[SampledFrame]:
        """Yield the samples in order; raises VideoRejected for bad input (possibly mid-way)."""
        return self._run(convert=True)

    def source_frames(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """(target index, the decoded av.VideoFrame chosen for it) in order, before scaling and
        RGB conversion: what frames() converts (profiling, other conversions). Raises as
        frames() does."""
        return self._run(convert=False)

    def _run(self, convert: bool) -> Iterator:
        """frames() (convert) or source_frames(); decoder errors become VideoRejected."""
        try:
            step = self._target_step()
            for k, frame, clock in self._choices(step):
                yield self._sample(k, frame, clock) if convert else (k, frame)
        except VideoRejected:
            raise
        except av.error.FFmpegError as exc:
            raise VideoRejected("corrupt", f"decoding failed: {exc}") from exc
        if self.stats.frames_decoded == 0:
            raise VideoRejected("no-frames", "no frame could be decoded")

    def _choices(self, step: fractions.Fraction
                 ) -> Iterator[tuple[int, av.VideoFrame, TargetClock]]:
        """SamplingPass picks each target's source frame; then the whole-video checks, and the
        rest of the audio the windows need."""
        self._audio = self._start_audio(step) if self.config.audio else None
        packets = self._timed_packets(self._container, self._stream, self._audio)
        sampling = SamplingPass(packets, self._stream.codec_context, self.info, step, self.config,
                                self.stats)
        for k, frame in sampling.run():
            self._samples += 1
            yield k, frame, sampling.clock
        if self.stats.end_s is not None:
            self._check_complete()
        if self.stats.decode_errors > self.config.max_decode_errors:
            raise VideoRejected("corrupt", f"{self.stats.decode_errors} packets failed to decode")
        if self._audio is not None:
            self._finish_audio(packets, step)

    # ---- audio --------------------------------------------------------------------------

    def _start_audio(self, step: fractions.Fraction) -> AudioWindows:
        """The audio track's collector; its zero is the video stream's start time."""
        start = self._stream.start_time
        origin = float(start * self.info.time_base) if start is not None else 0.0
        track = AudioWindows(self._audio_stream, origin, float(step), self.config.max_frames)
        if self._audio_stream is None and self._container.streams.audio:
            track.mark_undecodable()
        return track

    def _finish_audio(self, packets: Iterator[av.Packet], step: fractions.Fraction) -> None:
        """Reads on (the same pass) while the last windows still wait for audio, no further than
        _AUDIO_READ_AHEAD_S of video past them; then flushes the audio decoder."""
        audio, targets = self._audio, self._samples
        audio.close_at(targets)
        tb = self.info.time_base
        first = self._stream.start_time or 0
        limit = float(step) * max(0, targets - 1) + 1.0 + _AUDIO_READ_AHEAD_S
        for packet in packets:  # audio packets are fed inside the generator
            if audio.full or float((packet.pts - first) * tb) > limit:
                break
        audio.feed(None)

    def audio_windows(self) -> np.ndarray | None:
        """After frames(): float32[T, WINDOW_SAMPLES], each sample's audio window (silent where
        there is no audio); None unless DecodeConfig.audio."""
        return self._audio.windows(self._samples) if self._audio is not None else None

    def audio_starts_s(self) -> np.ndarray | None:
        """After frames(): float64[T], where each audio window starts; None without audio."""
        return self._audio.starts_s(self._samples) if self._audio is not None else None

    @property
    def audio_stats(self) -> AudioStats | None:
        return self._audio.stats if self._audio is not None else None

    def _sample(self, k: int, frame: av.VideoFrame, clock: TargetClock) -> SampledFrame:
        """Target k's sample from `frame`: resized to size x size RGB, turned for display."""
        start = time.perf_counter()
        size = self.config.size
        rgb = self._reformatter.reformat(frame, width=size, height=size, format="rgb24",
                                         interpolation=self.config.interpolation)
        image = rgb.to_ndarray()
        turns = _frame_turns(frame)
        self.stats.rotation = 90 * turns
        if turns:
            image = np.ascontiguousarray(np.rot90(image, k=-turns))
        self.stats.convert_s += time.perf_counter() - start
        return SampledFrame(index=k, target_s=clock.target_s(k),
                            timestamp_s=clock.seconds(frame.pts), image=image)

    def _check_complete(self) -> None:
        """Reject files whose video data stops well before their declared duration (damaged or
        cut data the container structure does not show)."""
        declared, actual = self.info.duration_s, self.stats.end_s
        if declared is None or actual is None:
            return
        if declared - actual > max(0.5, 0.05 * declared):
            raise VideoRejected("corrupt", f"video data ends at {actual:.2f} s of a declared "
                                f"{declared:.2f} s")


def _decoder_pixel_guard(config: DecodeConfig) -> int:
    """FFmpeg's own max_pixels for our decoder. FFmpeg counts rows padded to its alignment, so the
    guard leaves room for that; `decode_errors.check_pixels` applies the exact limit."""
    return 2 * config.max_pixels


def _probe_options(config: DecodeConfig) -> dict[str, str]:
    """Options for the decoders FFmpeg opens while probing the streams (av.open): decode no
    pictures (skip_frame; we need only what the headers say), so a file with many high-resolution
    streams costs next to no memory before its one video is chosen; decoders that ignore
    skip_frame (VP9) still allocate no frame over the pixel guard."""
    return {"skip_frame": "all", "max_pixels": str(_decoder_pixel_guard(config))}


def _main_stream(videos: list):
    """The video stream to sample: not an attached picture (cover art), then the most pixels."""
    return max(videos, key=lambda s: (not s.disposition & 0x400,  # AV_DISPOSITION_ATTACHED_PIC
                                      (s.codec_context.width or 0) * (s.codec_context.height or 0)))


def _declared_duration(container, stream) -> float | None:
    """The video stream's own duration from the headers, or None. Only MP4/MOV headers give each
    track its own; elsewhere FFmpeg fills a stream's duration with the whole file's, which the
    audio can make longer than the video, so it counts only for a file of one stream."""
    own = bool(set(container.format.name.split(",")) & _OWN_STREAM_DURATIONS)
    if stream.duration is not None and stream.time_base is not None and (own or len(container.streams) == 1):
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _frame_turns(frame) -> int:
    """Quarter turns clockwise the frame needs for display, from its display matrix
    (PyAV's `rotation` is the counter-clockwise angle of the display transform)."""
    return int(round(-(frame.rotation or 0) / 90.0)) % 4
