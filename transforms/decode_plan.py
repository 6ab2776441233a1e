"""Demux-level planning for selective decoding: which packets the decoder must see.

For every packet (decode order) we know its pts, whether it may be referenced by later pictures
("ref") and whether it is a clean random-access point that resets the decoder's references
("idr"). Packets are grouped into GOPs (keyframe to keyframe; `GopBuffer`). With a GOP and the
next one in hand, the planner

- resolves sample targets to source frames: the sample for target tick T is the frame with the
  largest pts <= T (the picture on screen at that time);
- feeds the decoder the GOP's reference pictures up to its last sample, and the sample pictures;
- drops non-reference pictures that are not samples (H.264 `nal_ref_idc == 0`, MPEG-4 B-VOPs);
- drops the GOP's tail after its last sample when the next GOP is closed (it starts with an IDR /
  keyframe that resets references and has no leading pictures that could reference this GOP).

Everything a dropped packet could influence is never shown, so the sampled frames are
bit-identical to a full decode. Codecs whose packets cannot be inspected get no demux-level
drops; the decoder's own `skip_frame=NONREF` is used for their non-sample packets instead.
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator

import av

# Codecs whose keyframes reset every reference (so a GOP's tail can go when the next GOP has
# no leading pictures). H.264 additionally needs the keyframe to be an IDR (checked per packet).
_RESETTING_KEYFRAMES = {"h264", "mpeg4", "vp8", "vp9"}
# Codecs whose non-reference packets we recognise from the bitstream.
PARSED_CODECS = {"h264", "mpeg4"}


@dataclasses.dataclass
class PacketInfo:
    """One demuxed video packet. pts/end are in the stream's time_base ticks."""

    packet: av.Packet
    index: int
    pts: int
    end: int
    keyframe: bool
    ref: bool
    idr: bool


class PacketInspector:
    """Reads `ref`/`idr` from packet payloads for the codecs in PARSED_CODECS."""

    def __init__(self, codec_name: str, extradata: bytes | None):
        self.codec = codec_name
        self._avcc_len = None
        if codec_name == "h264" and extradata and extradata[0] == 1 and len(extradata) > 4:
            self._avcc_len = (extradata[4] & 3) + 1

    @property
    def parses(self) -> bool:
        return self.codec in PARSED_CODECS

    def inspect(self, packet: av.Packet) -> tuple[bool, bool]:
        """(ref, idr) for `packet`."""
        keyframe = bool(packet.is_keyframe)
        if self.codec == "h264":
            return _h264_flags(bytes(packet), self._avcc_len)
        if self.codec == "mpeg4":
            return _mpeg4_ref(bytes(packet)), keyframe
        return True, keyframe and self.codec in _RESETTING_KEYFRAMES


def _h264_nal_headers(data: bytes, length_size: int | None):
    if length_size:
        pos = 0
        while pos + length_size < len(data):
            size = int.from_bytes(data[pos:pos + length_size], "big")
            pos += length_size
            if size <= 0 or pos >= len(data):
                return
            yield data[pos]
            pos += size
        return
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        yield data[start + 3]
        start = data.find(b"\x00\x00\x01", start + 3)


def _h264_flags(data: bytes, length_size: int | None) -> tuple[bool, bool]:
    ref = idr = False
    seen_slice = False
    for header in _h264_nal_headers(data, length_size):
        nal_type = header & 0x1F
        if nal_type in (1, 5):
            seen_slice = True
            ref |= (header >> 5) & 3 != 0
            idr |= nal_type == 5
    return (ref or not seen_slice), idr


def _mpeg4_ref(data: bytes) -> bool:
    found = False
    start = data.find(b"\x00\x00\x01\xb6")
    while start != -1 and start + 4 < len(data):
        found = True
        if data[start + 4] >> 6 != 2:  # vop_coding_type: 0 I, 1 P, 2 B, 3 S(GMC)
            return True
        start = data.find(b"\x00\x00\x01\xb6", start + 4)
    return not found


def gop_is_closed(gop: list[PacketInfo]) -> bool:
    """True when `gop` needs nothing from earlier GOPs: an IDR first and no leading pictures."""
    first = gop[0]
    return first.idr and all(p.pts >= first.pts for p in gop[1:])


class GopBuffer:
    """Packets grouped into GOPs as they are read: a keyframe starts a new GOP.

    `complete` holds the finished GOPs not decoded yet, oldest first (the reader keeps at most
    two: a GOP is planned once the one after it is known); `current` is the GOP being read. Each
    GOP is a list of PacketInfo in decode order; the *_bytes counters are compressed bytes.
    """

    def __init__(self):
        self.complete: collections.deque[list[PacketInfo]] = collections.deque()
        self.complete_bytes = 0
        self.current: list[PacketInfo] = []
        self.current_bytes = 0

    @property
    def held_bytes(self) -> int:
        return self.complete_bytes + self.current_bytes

    def add(self, info: PacketInfo) -> None:
        """Appends the next packet (decode order); a keyframe first completes the current GOP."""
        if info.keyframe and self.current:
            self.complete.append(self.current)
            self.complete_bytes += self.current_bytes
            self.current, self.current_bytes = [], 0
        self.current.append(info)
        self.current_bytes += info.packet.size

    def pop_oldest(self) -> list[PacketInfo]:
        """Removes and returns the oldest complete GOP."""
        gop = self.complete.popleft()
        self.complete_bytes -= sum(p.packet.size for p in gop)
        return gop

    def take_current(self) -> list[PacketInfo]:
        """The GOP being read, handed over whole; the buffer starts an empty one."""
        current, self.current, self.current_bytes = self.current, [], 0
        return current

    def drain(self) -> Iterator[tuple[list[PacketInfo], list[PacketInfo] | None]]:
        """At the end of the stream: each GOP left, oldest first, with the GOP after it (None
        for the last one)."""
        if self.current:
            self.complete.append(self.take_current())
        while self.complete:
            gop = self.pop_oldest()
            yield gop, self.complete[0] if self.complete else None


@dataclasses.dataclass(frozen=True)
class GopPlan:
    """What to do with each packet of one GOP, and which targets its frames satisfy.

    feed[i]: send packet i to the decoder; sample[i]: packet i's frame is a sample.
    targets: (target index, sample pts) pairs in target order.
    """

    feed: tuple[bool, ...]
    sample: tuple[bool, ...]
    targets: tuple[tuple[int, int], ...]


def plan_gop(gop: list[PacketInfo], target_ticks: list[tuple[int, int]], next_closed: bool,
             parsed: bool, selective: bool) -> GopPlan:
    """Plan one GOP. `target_ticks`: (target index, tick) pairs whose sample lies in this GOP
    (tick >= the GOP's first pts and < the next GOP's first pts)."""
    by_pts = sorted(p.pts for p in gop)
    targets = []
    for k, tick in target_ticks:
        sample_pts = _floor_lookup(by_pts, tick)
        targets.append((k, sample_pts))
    sample_pts_set = {pts for _, pts in targets}
    sample = tuple(p.pts in sample_pts_set for p in gop)
    if not selective:
        return GopPlan(feed=(True,) * len(gop), sample=sample, targets=tuple(targets))
    last_needed = max((i for i, s in enumerate(sample) if s), default=-1)
    feed = []
    for i, p in enumerate(gop):
        if sample[i]:
            feed.append(True)
        elif parsed and not p.ref:
            feed.append(False)
        elif next_closed and i > last_needed:
            feed.append(False)
        else:
            feed.append(True)
    return GopPlan(feed=tuple(feed), sample=sample, targets=tuple(targets))


def _floor_lookup(sorted_pts: list[int], tick: int) -> int:
    """The largest pts <= tick (the first pts when tick precedes them all)."""
    lo, hi = 0, len(sorted_pts)
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_pts[mid] <= tick:
            lo = mid + 1
        else:
            hi = mid
    return sorted_pts[max(lo - 1, 0)]
