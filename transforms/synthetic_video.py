"""Generated videos for tests, benchmarks and demos, encoded with PyAV.

Content kinds (`VideoSpec.content`):
- "index": each frame shows its own index as a 4x4 grid of black/white blocks (16 bits, MSB
  top-left), so a decoded frame says which source frame it is (`read_frame_index`), even after
  lossy coding and a resize to 299x299.
- "solid": every frame is `VideoSpec.color` (RGB).
- "quadrant": black frame with the top-left quadrant red, to check rotation handling.
- "scene": a "category scene" for class `VideoSpec.category`: a background hue, stripe orientation
  and frequency, and moving shapes that depend on the class, plus seeded noise and jitter so two
  videos of one class differ (`category_frame`). Used for demo models that must learn the class
  from Inception features.

Broken files for rejection tests: `write_zero_bytes`, `write_not_a_video`, `write_audio_only`,
`truncate_file`, `corrupt_file`. Hostile files, crafted to cost a careless decoder time or memory:
`write_resolution_switch`, `write_png_bomb`, `write_single_gop`, `write_many_streams`,
`write_timestamp_jump`, `write_shuffled_timestamps`, `declare_duration`.
"""
from __future__ import annotations

import colorsys
import dataclasses
import fractions
import math
import os
import struct
import zlib

import av
import numpy as np

CODECS = {  # our name -> (PyAV encoder, container extension)
    "h264": ("libx264", "mp4"),
    "vp9": ("libvpx-vp9", "webm"),
    "mpeg4": ("mpeg4", "mp4"),
}
INDEX_GRID = 4  # the frame-index code is INDEX_GRID x INDEX_GRID bits
_VFR_TIME_BASE = fractions.Fraction(1, 90000)


@dataclasses.dataclass(frozen=True)
class VideoSpec:
    """What to generate.

    codec: "h264" (.mp4), "vp9" (.webm) or "mpeg4" (.mp4).
    fps: nominal frame rate; with `vfr` each frame lasts a seeded random 0.5x-3x of 1/fps.
    width, height: any size >= 16; odd sizes use yuv444p for h264 (x264 needs even 4:2:0 sizes).
    rotation: display rotation in degrees clockwise, as a phone's "rotate" tag (0, 90, 180, 270):
      a player turns the stored picture this far clockwise to show it.
    gop: keyframe interval in frames (None: the encoder's default, 250 for x264).
    bframes: max consecutive B-frames (None: encoder default; x264 uses 3).
    preset: x264 preset ("veryfast" keeps tests fast; benchmarks use "medium").
    """

    codec: str = "h264"
    duration_s: float = 2.0
    fps: float = 30.0
    width: int = 64
    height: int = 48
    vfr: bool = False
    rotation: int = 0
    content: str = "index"
    color: tuple[int, int, int] = (255, 0, 0)
    category: int = 0
    seed: int = 0
    gop: int | None = None
    bframes: int | None = None
    preset: str = "veryfast"
    crf: int = 18
    audio: bool = False

    @property
    def extension(self) -> str:
        return CODECS[self.codec][1]


@dataclasses.dataclass(frozen=True)
class GeneratedVideo:
    """A written video: `pts_s[i]` is the presentation time of source frame i, in seconds."""

    path: str
    spec: VideoSpec
    pts_s: tuple[float, ...]

    @property
    def num_frames(self) -> int:
        return len(self.pts_s)


def frame_times(spec: VideoSpec) -> list[fractions.Fraction]:
    """Presentation times (exact fractions of a second) of the frames `spec` describes."""
    if not spec.vfr:
        rate = fractions.Fraction(spec.fps).limit_denominator(1001)
        n = max(1, int(math.floor(spec.duration_s * rate + 1e-9)))
        return [i / rate for i in range(n)]
    rng = np.random.default_rng(spec.seed + 7919)
    base = 1.0 / spec.fps
    times, t = [], 0.0
    while t < spec.duration_s - 1e-9:
        tick = round(t * 90000)
        times.append(fractions.Fraction(tick, 90000))
        t = tick / 90000 + base * float(rng.choice([0.5, 1.0, 2.0, 3.0]))
    return times


def write_video(path: str, spec: VideoSpec = VideoSpec()) -> GeneratedVideo:
    """Encode the video `spec` describes to `path` (container chosen by the codec)."""
    if spec.codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}, got {spec.codec!r}")
    times = frame_times(spec)
    rng = np.random.default_rng(spec.seed)
    scene = (SceneRenderer(spec.category, spec.width, spec.height, rng)
             if spec.content == "scene" else None)
    encoder, _ = CODECS[spec.codec]
    with av.open(path, "w") as container:
        rate = fractions.Fraction(spec.fps).limit_denominator(1001)
        stream = container.add_stream(encoder, rate=rate)
        stream.width, stream.height = spec.width, spec.height
        odd = spec.width % 2 or spec.height % 2
        stream.pix_fmt = "yuv444p" if (odd and spec.codec == "h264") else "yuv420p"
        options = {}
        if spec.codec == "h264":
            options = {"preset": spec.preset, "crf": str(spec.crf)}
        elif spec.codec == "vp9":
            options = {"crf": str(spec.crf + 12), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        else:
            options = {"flags": "+qscale", "global_quality": str(3 * 118)}  # qscale 3 (FF_QP2LAMBDA)
        if spec.gop is not None:
            stream.codec_context.gop_size = spec.gop
        elif spec.codec == "mpeg4":
            stream.codec_context.gop_size = 12
        if spec.bframes is not None:
            if spec.codec == "h264":
                options["bf"] = str(spec.bframes)
            else:
                stream.codec_context.max_b_frames = spec.bframes
        stream.options = options
        if spec.vfr:
            stream.time_base = _VFR_TIME_BASE
            stream.codec_context.time_base = _VFR_TIME_BASE
        if spec.rotation % 360:
            stream.set_display_rotation(-float(spec.rotation))
        audio = _add_audio(container) if spec.audio else None
        for i, t in enumerate(times):
            image = scene.frame(float(t)) if scene else _content(spec, i, float(t))
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if spec.vfr:
                frame.pts = int(t / _VFR_TIME_BASE)
                frame.time_base = _VFR_TIME_BASE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio is not None:
            _write_audio(container, audio, float(times[-1]) + 1.0 / spec.fps)
    return GeneratedVideo(path=path, spec=spec, pts_s=tuple(float(t) for t in times))


def _content(spec: VideoSpec, index: int, t: float) -> np.ndarray:
    h, w = spec.height, spec.width
    if spec.content == "index":
        return frame_index_image(index, h, w)
    if spec.content == "solid":
        return np.broadcast_to(np.array(spec.color, np.uint8), (h, w, 3)).copy()
    if spec.content == "quadrant":
        image = np.zeros((h, w, 3), np.uint8)
        image[: h // 2, : w // 2] = (255, 0, 0)
        return image
    raise ValueError(f"unknown content {spec.content!r}")


def frame_index_image(index: int, height: int, width: int) -> np.ndarray:
    """uint8[H,W,3] RGB: `index` as INDEX_GRID**2 bits, white block = 1, MSB top-left."""
    bits = INDEX_GRID * INDEX_GRID
    if not 0 <= index < 2**bits:
        raise ValueError(f"frame index {index} does not fit in {bits} bits")
    image = np.zeros((height, width, 3), np.uint8)
    rows = np.linspace(0, height, INDEX_GRID + 1).round().astype(int)
    cols = np.linspace(0, width, INDEX_GRID + 1).round().astype(int)
    for b in range(bits):
        if index >> (bits - 1 - b) & 1:
            r, c = divmod(b, INDEX_GRID)
            image[rows[r]:rows[r + 1], cols[c]:cols[c + 1]] = 255
    return image


def read_frame_index(image: np.ndarray) -> int:
    """The index `frame_index_image` drew into `image` (uint8[H,W,3], any size), read at block centres."""
    height, width = image.shape[:2]
    gray = image.astype(np.float32).mean(axis=2)
    value = 0
    for b in range(INDEX_GRID * INDEX_GRID):
        r, c = divmod(b, INDEX_GRID)
        y0, y1 = int((r + 0.3) * height / INDEX_GRID), int((r + 0.7) * height / INDEX_GRID) + 1
        x0, x1 = int((c + 0.3) * width / INDEX_GRID), int((c + 0.7) * width / INDEX_GRID) + 1
        value = value << 1 | int(gray[y0:y1, x0:x1].mean() > 127)
    return value


def category_frame(category: int, t: float, width: int, height: int,
                   rng: np.random.Generator) -> np.ndarray:
    """uint8[H,W,3] RGB frame at time `t` (s) of a scene distinctive for class `category`.

    The class sets the background hue (golden-ratio spaced), stripe angle and spatial frequency,
    and the number, colour and speed of moving discs; `rng` adds per-video jitter and noise.
    For whole videos prefer `SceneRenderer`, which keeps a per-video panning texture.
    """
    return SceneRenderer(category, width, height, rng).frame(t)


class SceneRenderer:
    """Frames of one category-scene video: class-specific stripes and moving discs over a
    seeded, slowly panning smooth texture, plus light temporal noise (camera-like content that
    codecs compress with B-frames, as real footage)."""

    def __init__(self, category: int, width: int, height: int, rng: np.random.Generator):
        self.category, self.width, self.height, self.rng = category, width, height, rng
        golden = 0.61803398875
        self.hue = (category * golden + float(rng.uniform(-0.03, 0.03))) % 1.0
        self.angle = math.pi * ((category * 0.37) % 1.0) + float(rng.uniform(-0.1, 0.1))
        self.freq = 2.0 + (category * 5) % 7  # stripes per frame width
        self.base = np.array(colorsys.hsv_to_rgb(self.hue, 0.8, 0.9), np.float32)
        self.comp = np.array(colorsys.hsv_to_rgb((self.hue + 0.5) % 1.0, 0.9, 0.6), np.float32)
        self.phase0 = float(rng.uniform(0, 2 * math.pi))
        pad = max(width, height) // 2
        coarse = rng.normal(0, 1, (height // 16 + 4, width // 16 + 4 + pad // 16, 1))
        texture = np.kron(coarse, np.ones((16, 16, 1)))[: height + 32, : width + pad]
        self.texture = (0.12 * texture).astype(np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.yy, self.xx = yy, xx
        self.u = (xx * math.cos(self.angle) + yy * math.sin(self.angle)) / max(width, height)

    def frame(self, t: float) -> np.ndarray:
        c, width, height = self.category, self.width, self.height
        stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (self.freq * self.u - 0.25 * t * (1 + c % 3)))
        image = stripes[..., None] * self.base + (1 - stripes[..., None]) * self.comp
        shift = int(t * 20) % max(1, self.texture.shape[1] - width)
        image = image + self.texture[:height, shift:shift + width]
        for k in range(1 + c % 4):
            phase = 2 * math.pi * (k / (1 + c % 4)) + self.phase0
            speed = 0.3 + 0.2 * (c % 5)
            cx = width * (0.5 + 0.35 * math.cos(phase + speed * t))
            cy = height * (0.5 + 0.35 * math.sin(phase + 1.3 * speed * t))
            radius = max(width, height) * (0.06 + 0.02 * (c % 3))
            disc = (self.xx - cx) ** 2 + (self.yy - cy) ** 2 < radius**2
            image[disc] = colorsys.hsv_to_rgb((self.hue + 0.25 + 0.1 * k) % 1.0, 1.0, 1.0)
        image = image * 255 + self.rng.normal(0, 1.5, image.shape[:2])[..., None]
        return np.clip(image, 0, 255).astype(np.uint8)


def _add_audio(container: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    webm = "webm" in container.format.name
    stream = container.add_stream("libopus" if webm else "aac", rate=48000 if webm else 44100)
    stream.layout = "mono"
    return stream


def _write_audio(container, stream, duration_s: float) -> None:
    rate = stream.codec_context.sample_rate
    fmt = "flt" if stream.codec_context.name == "libopus" else "fltp"
    samples = int(duration_s * rate)
    t = np.arange(samples, dtype=np.float32) / rate
    tone = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None, :]
    for start in range(0, samples, 960):
        frame = av.AudioFrame.from_ndarray(tone[:, start:start + 960], format=fmt, layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


# ---- broken files ---------------------------------------------------------------------------

def write_zero_bytes(path: str) -> str:
    open(path, "wb").close()
    return path


def write_not_a_video(path: str, seed: int = 0, size: int = 4096) -> str:
    """Random bytes (not any container format)."""
    with open(path, "wb") as f:
        f.write(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def write_audio_only(path: str, duration_s: float = 1.0) -> str:
    """An .m4a/.mp4 holding one AAC stream and no video stream."""
    with av.open(path, "w", format="mp4") as container:
        stream = _add_audio(container)
        _write_audio(container, stream, duration_s)
    return path


def truncate_file(src: str, dst: str, fraction: float = 0.5) -> str:
    """Copy the first `fraction` of `src`'s bytes to `dst` (an interrupted upload)."""
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return dst


def corrupt_file(src: str, dst: str, seed: int = 0, start_fraction: float = 0.0,
                 length_fraction: float = 1.0) -> str:
    """Copy `src` to `dst`, overwriting bytes in [start, start+length) (fractions of the size)
    with seeded random bytes, keeping the first 8 bytes (the container signature) intact."""
    data = bytearray(open(src, "rb").read())
    start = max(8, int(len(data) * start_fraction))
    stop = min(len(data), start + int(len(data) * length_fraction))
    noise = np.random.default_rng(seed).integers(0, 256, max(0, stop - start), dtype=np.uint8)
    data[start:stop] = noise.tobytes()
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return dst


def generate_category_videos(directory: str, num_categories: int, per_category: int,
                             spec: VideoSpec = VideoSpec(content="scene", duration_s=4.0)
                             ) -> list[tuple[str, int]]:
    """Write `per_category` scene videos per class under `directory`; returns (path, category)."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for c in range(num_categories):
        for j in range(per_category):
            s = dataclasses.replace(spec, content="scene", category=c, seed=1000 * c + j)
            path = os.path.join(directory, f"cat{c:03d}_{j:03d}.{s.extension}")
            write_video(path, s)
            out.append((path, c))
    return out


# ---- hostile files --------------------------------------------------------------------------

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
        yuv[:height] = _index_plane(first_index + i, height, width)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = i, encoder.time_base
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


def _index_plane(index: int, height: int, width: int) -> np.ndarray:
    """uint8[H,W]: `frame_index_image` as one gray plane, built without an RGB frame (cheap for
    huge frames)."""
    bits = INDEX_GRID * INDEX_GRID
    grid = np.array([index >> (bits - 1 - b) & 1 for b in range(bits)], np.uint8)
    grid = grid.reshape(INDEX_GRID, INDEX_GRID) * 255
    rows = np.diff(np.linspace(0, height, INDEX_GRID + 1).round().astype(int))
    cols = np.diff(np.linspace(0, width, INDEX_GRID + 1).round().astype(int))
    return np.repeat(np.repeat(grid, rows, axis=0), cols, axis=1)


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
