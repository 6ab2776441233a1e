"""Hostile video files for the decoder's tests: crafted to cost a careless decoder time or memory
(re-exported by synthetic_video.py).

`write_resolution_switch`, `write_single_gop`, `write_timestamp_jump`, `write_shuffled_timestamps`
and `write_many_streams` mux H.264 packets from `encode_h264` (gray "index" frames, see
synthetic_frame_index.py); `write_png_bomb` writes a tiny PNG that decodes to gigabytes, and
`declare_duration` makes a Matroska header lie about the duration.
"""
from __future__ import annotations

import fractions
import struct
import zlib

import av
import numpy as np

from transforms.synthetic_frame_index import index_plane

_H264_FILLER_NAL = b"\x00\x00\x00\x01\x0c"  # Annex B start code + filler-data NAL (type 12)


def encode_h264(width: int, height: int, count: int, fps: int = 10, first_index: int = 0,
                keyframe_interval: int | None = None) -> list[av.Packet]:
    """Annex B H.264 packets (SPS/PPS in-band before each keyframe) of `count` gray "index"
    frames showing first_index, first_index + 1, ...; pts/dts count frames from 0 (time_base
    1/fps). No B-frames. keyframe_interval None: only the first frame is a keyframe.
    width and height must be even."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.framerate = fps
    keyint = keyframe_interval or "infinite"
    encoder.options = {"preset": "ultrafast", "crf": "30", "bf": "0", "threads": "1",
                       "x264-params": f"keyint={keyint}:scenecut=0:rc-lookahead=0"}
    packets = []
    for i in range(count):
        yuv = np.full((height * 3 // 2, width), 128, np.uint8)  # gray chroma
        yuv[:height] = index_plane(first_index + i, height, width)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = i, encoder.time_base
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


def _mux_h264(path: str, fmt: str, packets: list[av.Packet], fps: int, size: tuple[int, int],
              streamed: bool = False) -> str:
    """Write `packets` (pts/dts in 1/fps ticks) as one H.264 stream whose header says `size`
    (width, height). streamed: write as a live stream does, never seeking back, so a Matroska
    header declares no duration (and there is no index)."""
    with open(path, "wb") as file:
        with av.open(_Unseekable(file) if streamed else file, "w", format=fmt) as container:
            stream = container.add_stream("h264", rate=fps)
            stream.width, stream.height = size
            for packet in packets:
                packet.time_base = fractions.Fraction(1, fps)
                packet.stream = stream
                container.mux(packet)
    return path


class _Unseekable:
    """A write-only view of a file: FFmpeg muxers see a pipe."""

    def __init__(self, file):
        self._file = file

    def write(self, data) -> int:
        return self._file.write(data)


def write_resolution_switch(path: str, first: tuple[int, int] = (64, 48),
                            second: tuple[int, int] = (640, 480), frames_each: int = 10,
                            fps: int = 10) -> str:
    """MPEG-TS holding one H.264 stream whose pictures are `first` (width, height) for
    frames_each frames, then `second` for as many: the stream header shows only `first`."""
    packets = encode_h264(*first, frames_each, fps)
    for packet in encode_h264(*second, frames_each, fps, first_index=frames_each):
        packet.pts += frames_each
        packet.dts += frames_each
        packets.append(packet)
    return _mux_h264(path, "mpegts", packets, fps, first)


def write_single_gop(path: str, duration_s: float, fps: int = 2, width: int = 64,
                     height: int = 48, filler_bytes: int = 0, streamed: bool = True) -> str:
    """Matroska with H.264 of one keyframe then only P-frames (frame i shows index i, at i/fps s).
    filler_bytes: H.264 filler data added to every packet (bigger packets, same pictures).
    streamed: no duration in the header (see `_mux_h264`)."""
    packets = encode_h264(width, height, int(duration_s * fps), fps)
    if filler_bytes:
        for i, packet in enumerate(packets):
            padded = av.Packet(bytes(packet) + _H264_FILLER_NAL + b"\xff" * filler_bytes + b"\x80")
            padded.pts, padded.dts, padded.is_keyframe = packet.pts, packet.dts, packet.is_keyframe
            packets[i] = padded
    return _mux_h264(path, "matroska", packets, fps, (width, height), streamed)


def write_timestamp_jump(path: str, jump_s: float, frames: int = 20, fps: int = 10) -> str:
    """Streamed Matroska H.264 (no declared duration) whose second half is stamped jump_s
    seconds after the first half."""
    packets = encode_h264(64, 48, frames, fps, keyframe_interval=fps)
    for packet in packets[frames // 2:]:
        packet.pts += round(jump_s * fps)
        packet.dts += round(jump_s * fps)
    return _mux_h264(path, "matroska", packets, fps, (64, 48), streamed=True)


def write_shuffled_timestamps(path: str, frames: int = 40, fps: int = 10, seed: int = 0) -> str:
    """Matroska H.264 (no B-frames) whose packets carry a seeded permutation of the timestamps:
    presentation order contradicts decode order."""
    packets = encode_h264(64, 48, frames, fps, keyframe_interval=fps)
    order = np.random.default_rng(seed).permutation(frames)
    for packet, pts in zip(packets, order):
        packet.pts, packet.dts = int(pts), packet.dts - frames  # dts must stay <= pts
    return _mux_h264(path, "matroska", packets, fps, (64, 48))


def write_many_streams(path: str, count: int, width: int = 16, height: int = 16,
                       frames: int = 1, fps: int = 10) -> str:
    """Matroska with `count` copies of one H.264 stream of `frames` frames (one keyframe, then
    P-frames); FFmpeg writes at most 1000 streams."""
    packets = encode_h264(width, height, frames, fps)
    with av.open(path, "w", format="matroska") as container:
        streams = [container.add_stream("h264", rate=fps) for _ in range(count)]
        for stream in streams:
            stream.width, stream.height = width, height
        for packet in packets:
            for stream in streams:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts, copy.is_keyframe = packet.pts, packet.dts, packet.is_keyframe
                copy.time_base, copy.stream = fractions.Fraction(1, fps), stream
                container.mux(copy)
    return path


def write_png_bomb(path: str, width: int = 16000, height: int = 16000) -> str:
    """A valid 16-bit RGBA PNG of `width` x `height` zero pixels: about 1/1000 of its decoded
    size (width * height * 8 bytes) on disk, written in well under a second.

    Deflate output repeats once the compressor's dictionary is reset (a full flush), so one
    compressed block of rows stands for every block; only the checksum covers them all."""
    row = bytes(1 + width * 8)  # filter byte 0, then RGBA at 16 bits per channel
    rows_per_block = max(1, (8 << 20) // len(row))
    block = row * rows_per_block
    blocks, rest = divmod(height, rows_per_block)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)]
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    parts += [repeated] * (blocks - 1)
    parts.append(compressor.compress(row * rest) + compressor.flush(zlib.Z_FINISH))
    checksum = 1
    for _ in range(blocks):
        checksum = zlib.adler32(block, checksum)
    checksum = zlib.adler32(row * rest, checksum)
    idat = b"".join(parts)[:-4] + struct.pack(">I", checksum)  # the trailer covers every row
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)  # 16-bit RGBA
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
                + _png_chunk(b"IEND", b""))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declare_duration(src: str, dst: str, seconds: float) -> str:
    """Copy Matroska `src` (as FFmpeg writes it: Segment Info near the start, an 8-byte float
    Duration) to `dst`, its header now declaring `seconds` of duration; the blocks stay as
    they are."""
    data = bytearray(open(src, "rb").read())
    head = bytes(data[:4096])
    scale = 1_000_000  # TimecodeScale, ns per Duration unit (the Matroska default)
    found = head.find(b"\x2a\xd7\xb1")  # TimecodeScale element
    if found != -1:
        size = head[found + 3] & 0x7F if head[found + 3] & 0x80 else 0
        scale = int.from_bytes(head[found + 4:found + 4 + size], "big") or scale
    duration = head.find(b"\x44\x89\x88")  # Duration element, 8-byte float
    if duration == -1:
        raise ValueError(f"{src} has no 8-byte Matroska Duration in its first 4 KiB")
    data[duration + 3:duration + 11] = struct.pack(">d", seconds * 1e9 / scale)
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return dst
