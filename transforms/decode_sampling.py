"""One read of a video stream that decodes only what the samples need (see decode.py for the API).

    sampling = SamplingPass(packets, codec_context, info, step, config, stats)
    for k, frame in sampling.run():   # target index, av.VideoFrame on screen at target k
        ...                           # sampling.clock converts k and frame.pts to seconds

Packets are grouped into GOPs (decode_plan.GopBuffer). Once the GOP after it is known, a GOP is
planned against the targets inside its time span (decode_plan.plan_gop) and only the packets the
plan needs are decoded. A GOP that outgrows `max_gop_bytes` is not buffered: from then on every
packet is decoded in order and targets are settled from the frames as they come out
(decode_targets.SequentialTargets). `FrameDecoder` holds every decoded frame to the limits.
"""
from __future__ import annotations

import fractions
import time
from collections.abc import Generator, Iterable, Iterator

import av

from transforms import decode_plan
from transforms.decode_errors import VideoRejected, check_pixels
from transforms.decode_plan import GopBuffer, PacketInfo
from transforms.decode_targets import PlannedTargets, SequentialTargets, TargetClock

# What a sampling pass yields: a target index (int) and the source frame chosen for it.
Choice = tuple[int, av.VideoFrame]


def decode_mode(selective: bool, parses: bool, mode: str = "exact") -> str:
    """DecodeStats.mode before any GOP outgrows the buffer: how packets are skipped, plus
    "+fast" for DecodeConfig.mode "fast"."""
    fast = "+fast" if mode == "fast" else ""
    if not selective:
        return "full" + fast
    return ("selective-parsed" if parses else "selective-skipframe") + fast


class FrameDecoder:
    """The chosen stream's codec context, fed one packet at a time. Every frame it returns is
    held to max_pixels; failed packets (stats.decode_errors) and frames whose timestamps go
    backwards (stats.out_of_order) are counted, and more than max_decode_errors of either
    rejects the video as "corrupt"."""

    def __init__(self, codec_context: av.CodecContext, config, stats):
        self._cc = codec_context
        self._config = config  # DecodeConfig
        self._stats = stats  # DecodeStats, updated in place

    def skip_frames(self, mode: str) -> None:
        """Which pictures the decoder itself may drop: "NONREF" (non-reference ones) or
        "DEFAULT" (none)."""
        if self._cc.skip_frame != mode:
            self._cc.skip_frame = mode

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """The frames the decoder returns for `packet` (None: flush what it holds)."""
        if packet is not None:
            self._stats.packets_decoded += 1
        start = time.perf_counter()
        try:
            frames = self._cc.decode(packet)
        except av.error.EOFError:
            frames = []
        except av.error.FFmpegError as exc:
            self._stats.codec_s += time.perf_counter() - start
            self._check_stream_size()
            self._stats.decode_errors += 1
            if self._stats.decode_errors > self._config.max_decode_errors:
                raise VideoRejected("corrupt", f"packets fail to decode: {exc}") from exc
            return []
        self._stats.codec_s += time.perf_counter() - start
        self._check_stream_size()
        for frame in frames:
            check_pixels(frame.width, frame.height, self._config.max_pixels, "a decoded frame is")
        self._stats.frames_decoded += len(frames)
        return frames

    def check_order(self, frame: av.VideoFrame, previous: av.VideoFrame | None) -> None:
        """Frames leave the decoder in presentation order, so their pts must grow; a file whose
        timestamps contradict its decode order cannot be sampled by time."""
        if frame.pts is None or previous is None or previous.pts is None:
            return
        if frame.pts < previous.pts:
            self._stats.out_of_order += 1
            if self._stats.out_of_order > self._config.max_decode_errors:
                raise VideoRejected("corrupt", f"decoded frames' timestamps go backwards "
                                    f"{self._stats.out_of_order} times")

    def _check_stream_size(self) -> None:
        """A frame over the decoder's pixel guard is never allocated: it fails to decode (the
        error may surface packets later, or be dropped at the flush with frame threading), but
        the context already holds the size the stream switched to."""
        check_pixels(self._cc.width, self._cc.height, self._config.max_pixels,
                     "the stream switches to frames of")


class SamplingPass:
    """Reads the packets once and yields (target index, av.VideoFrame) for the targets in order.

    packets: the stream's timed packets in decode order (each with an int pts). info: its
    VideoInfo (codec, average_fps, time_base). step: seconds between targets (Fraction).
    config: DecodeConfig; stats: DecodeStats, updated as the pass runs. `clock` gives the
    targets' times and the frames' timestamps in seconds.
    """

    def __init__(self, packets: Iterable[av.Packet], codec_context: av.CodecContext, info,
                 step: fractions.Fraction, config, stats):
        self.clock = TargetClock(step, info.time_base, config.max_frames)
        self._packets = packets
        self._config = config
        self._stats = stats
        self._inspector = decode_plan.PacketInspector(info.codec, codec_context.extradata)
        stats.mode = decode_mode(config.selective, self._inspector.parses, config.mode)
        self._decoder = FrameDecoder(codec_context, config, stats)
        self._frame_ticks = _average_frame_ticks(info.average_fps, info.time_base)
        self._gops = GopBuffer()
        self._planned = PlannedTargets()
        self._sequential: SequentialTargets | None = None  # set once a GOP outgrows the buffer
        self._last_frame: av.VideoFrame | None = None  # the latest frame out of the decoder
        self._end_tick: int | None = None  # the latest packet end (pts + duration) so far

    def run(self) -> Iterator[Choice]:
        """(target index, chosen frame) pairs in target order, for the targets before the end of
        the stream. A target whose own frame never came out of the decoder takes the frame
        decoded before it (counted in stats.substituted)."""
        read_to_end = yield from self._read_packets()
        if read_to_end:
            yield from self._decode_remaining_gops()
            if self.clock.origin is not None and self._end_tick is not None:
                self._stats.end_s = self.clock.seconds(self._end_tick)
        yield from self._decode_packet(None)  # flush: the frames the decoder still holds
        if self._sequential is not None and self._stats.end_s is not None:
            yield from self._sequential.finish(self._end_tick)
        yield from self._repeat_last_frame()

    def _read_packets(self) -> Generator[Choice, None, bool]:
        """Decodes while reading; returns True when the stream was read to its end, False when
        every target was handed out first (the rest of the file is not needed)."""
        for packet in self._packets:
            info = self._packet_info(packet)
            if self._sequential is None:
                yield from self._buffer(info)
            else:
                yield from self._decode_in_order([info])
            if self.clock.exhausted:
                return False
        return True

    def _packet_info(self, packet: av.Packet) -> PacketInfo:
        """Counts and inspects the next packet; moves the stream's end past it."""
        self._stats.packets += 1
        ref, idr = self._inspector.inspect(packet)
        end = packet.pts + (packet.duration or self._frame_ticks)  # duration unknown: average
        self._end_tick = end if self._end_tick is None else max(self._end_tick, end)
        return PacketInfo(packet=packet, index=self._stats.packets - 1, pts=packet.pts, end=end,
                          keyframe=bool(packet.is_keyframe), ref=ref, idr=idr)

    def _buffer(self, info: PacketInfo) -> Iterator[Choice]:
        """Adds a packet to its GOP. With two complete GOPs, decodes the older one as planned;
        when the GOP being read outgrows max_gop_bytes, switches to decoding in order."""
        gops = self._gops
        gops.add(info)
        self._stats.buffered_bytes_peak = max(self._stats.buffered_bytes_peak, gops.held_bytes)
        if len(gops.complete) == 2:
            gop = gops.pop_oldest()
            yield from self._decode_gop(gop, gops.complete[0])
        elif gops.current_bytes > self._config.max_gop_bytes:
            yield from self._start_sequential()

    def _decode_gop(self, gop: list[PacketInfo], next_gop: list[PacketInfo] | None
                    ) -> Iterator[Choice]:
        """Plans `gop` against the targets before the next GOP starts (None: before the stream
        ends) and decodes the packets the plan feeds."""
        self.clock.start_at(min(p.pts for p in gop))
        if next_gop is None:
            bound, next_closed = self._end_tick, True
        else:
            bound = min(p.pts for p in next_gop)
            next_closed = decode_plan.gop_is_closed(next_gop)
        plan = decode_plan.plan_gop(gop, self.clock.take_before(bound), next_closed,
                                    self._inspector.parses, self._config.selective)
        self._planned.add(plan.targets)
        # Without packet inspection the decoder itself drops the non-reference pictures.
        skip_in_decoder = self._config.selective and not self._inspector.parses
        for info, feed, is_sample in zip(gop, plan.feed, plan.sample):
            if not feed:
                continue
            if skip_in_decoder:
                self._decoder.skip_frames("DEFAULT" if is_sample else "NONREF")
            yield from self._decode_packet(info.packet)

    def _decode_remaining_gops(self) -> Iterator[Choice]:
        """At the end of the stream: plans and decodes every GOP still buffered."""
        for gop, next_gop in self._gops.drain():
            yield from self._decode_gop(gop, next_gop)

    def _start_sequential(self) -> Iterator[Choice]:
        """The GOP being read outgrew max_gop_bytes: decodes the complete GOP before it as
        planned, then it and every later packet in order, so memory stays bounded."""
        gops = self._gops
        if gops.complete:
            yield from self._decode_gop(gops.pop_oldest(), gops.current)
        else:
            self.clock.start_at(min(p.pts for p in gops.current))
        self._sequential = SequentialTargets(self.clock)
        self._stats.mode += "+sequential"
        pending = gops.take_current()
        if not self._sequential.done:
            yield from self._decode_in_order(pending)

    def _decode_in_order(self, infos: list[PacketInfo]) -> Iterator[Choice]:
        """Decodes every packet of `infos`, none skipped (the long-GOP fallback)."""
        self._decoder.skip_frames("DEFAULT")
        for info in infos:
            yield from self._decode_packet(info.packet)

    def _decode_packet(self, packet: av.Packet | None) -> Iterator[Choice]:
        """The targets settled by the frames `packet` gives (None: flush the decoder)."""
        for frame in self._decoder.decode(packet):
            yield from self._settle(frame)

    def _settle(self, frame: av.VideoFrame) -> Iterator[Choice]:
        """The targets `frame` settles: planned ones (exact pts) first, then sequential ones."""
        self._decoder.check_order(frame, self._last_frame)
        for k, chosen, substituted in self._planned.settle(frame, self._last_frame):
            if substituted:
                self._stats.substituted += 1
            yield k, chosen
        if self._sequential is not None:
            yield from self._sequential.take(frame)
        self._last_frame = frame

    def _repeat_last_frame(self) -> Iterator[Choice]:
        """Planned targets the decoder never produced a frame for repeat the last frame."""
        if self._last_frame is None:
            return
        for k in self._planned.drain():
            self._stats.substituted += 1
            yield k, self._last_frame


def _average_frame_ticks(average_fps: float | None, time_base: fractions.Fraction) -> int:
    """Ticks of one frame at the average rate (at least 1; 1 when the rate is unknown)."""
    if not average_fps:
        return 1
    return max(1, round(1 / (fractions.Fraction(average_fps) * time_base)))
