"""Generated videos for tests, benchmarks and demos, encoded with PyAV.

Content kinds (`VideoSpec.content`):
- "index": each frame shows its own index as a 4x4 grid of black/white blocks (16 bits, MSB
  top-left), so a decoded frame says which source frame it is (`read_frame_index`), even after
  lossy coding and a resize to 299x299 (synthetic_frame_index.py).
- "solid": every frame is `VideoSpec.color` (RGB).
- "quadrant": black frame with the top-left quadrant red, to check rotation handling.
- "scene": a "category scene" for class `VideoSpec.category`: a background hue, stripe orientation
  and frequency, and moving shapes that depend on the class, plus seeded noise and jitter so two
  videos of one class differ (`category_frame`, synthetic_scenes.py). Used for demo models that
  must learn the class from Inception features.

Audio (`VideoSpec.audio`): a 440 Hz tone, or with `audio_kind` a category-typical sound
(`category_audio`, synthetic_audio.py) seeded by `VideoSpec.seed`; `audio_duration_s` sets the
track's length (default: the video's). AAC in .mp4, Opus in .webm. `beep_audio` makes a track
with one tone burst, for alignment tests.

Broken files for rejection tests: `write_zero_bytes`, `write_not_a_video`, `write_audio_only`,
`truncate_file`, `corrupt_file`, `corrupt_audio` (audio packets garbled, video intact, in
synthetic_audio.py). Hostile files, crafted to cost a careless decoder time or memory:
`write_resolution_switch`, `write_png_bomb`, `write_single_gop`, `write_many_streams`,
`write_timestamp_jump`, `write_shuffled_timestamps`, `declare_duration` (synthetic_hostile.py).
Everything named here can be imported from this module.
"""
from __future__ import annotations

import dataclasses
import fractions
import math
import os

import av
import numpy as np

from transforms.synthetic_audio import KINDS as AUDIO_KINDS
from transforms.synthetic_audio import beep_audio, category_audio, corrupt_audio
from transforms.synthetic_frame_index import INDEX_GRID, frame_index_image, read_frame_index
from transforms.synthetic_hostile import (declare_duration, encode_h264, write_many_streams,
                                          write_png_bomb, write_resolution_switch,
                                          write_shuffled_timestamps, write_single_gop,
                                          write_timestamp_jump)
from transforms.synthetic_scenes import SceneRenderer, category_frame

__all__ = [  # what callers import from here, wherever it is defined
    "AUDIO_KINDS", "CODECS", "INDEX_GRID", "GeneratedVideo", "SceneRenderer", "VideoSpec",
    "beep_audio", "category_audio", "category_frame", "corrupt_audio", "corrupt_file",
    "declare_duration", "encode_h264", "frame_index_image", "frame_times",
    "generate_category_videos", "read_frame_index", "truncate_file", "write_audio_only",
    "write_many_streams", "write_not_a_video", "write_png_bomb", "write_resolution_switch",
    "with_audio_track", "write_shuffled_timestamps", "write_single_gop", "write_timestamp_jump",
    "write_video",
    "write_zero_bytes"]

CODECS = {  # our name -> (PyAV encoder, container extension)
    "h264": ("libx264", "mp4"),
    "vp9": ("libvpx-vp9", "webm"),
    "mpeg4": ("mpeg4", "mp4"),
}
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
    audio: add a mono audio track (AAC in .mp4, Opus in .webm): a 440 Hz tone, or with
      audio_kind one of AUDIO_KINDS ("tone", "noise", "rhythm", "speech", "silence") seeded by
      `seed`. audio_duration_s: the track's length (None: as long as the video).
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
    audio_kind: str | None = None
    audio_duration_s: float | None = None

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
    if spec.audio_kind is not None and (not spec.audio or spec.audio_kind not in AUDIO_KINDS):
        raise ValueError(f"audio_kind needs audio=True and one of {list(AUDIO_KINDS)}, got "
                         f"audio={spec.audio}, audio_kind={spec.audio_kind!r}")
    times = frame_times(spec)
    rng = np.random.default_rng(spec.seed)
    scene = (SceneRenderer(spec.category, spec.width, spec.height, rng)
             if spec.content == "scene" else None)
    with av.open(path, "w") as container:
        stream = _add_video_stream(container, spec)
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
            duration = spec.audio_duration_s
            if duration is None:
                duration = float(times[-1]) + 1.0 / spec.fps
            rate = audio.codec_context.sample_rate
            samples = (None if spec.audio_kind is None
                       else category_audio(spec.audio_kind, spec.seed, duration, rate))
            _write_audio(container, audio, duration, samples)
    return GeneratedVideo(path=path, spec=spec, pts_s=tuple(float(t) for t in times))


def _add_video_stream(container: av.container.OutputContainer,
                      spec: VideoSpec) -> av.video.stream.VideoStream:
    """The encoder stream for `spec`: size, pixel format, quality, GOP and B-frames, the VFR
    time base and the display rotation."""
    encoder, _ = CODECS[spec.codec]
    rate = fractions.Fraction(spec.fps).limit_denominator(1001)
    stream = container.add_stream(encoder, rate=rate)
    stream.width, stream.height = spec.width, spec.height
    odd = spec.width % 2 or spec.height % 2
    stream.pix_fmt = "yuv444p" if (odd and spec.codec == "h264") else "yuv420p"
    options = _quality_options(spec)
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
    return stream


def _quality_options(spec: VideoSpec) -> dict[str, str]:
    """Encoder options for near-lossless quality (the frame index must survive coding)."""
    if spec.codec == "h264":
        return {"preset": spec.preset, "crf": str(spec.crf)}
    if spec.codec == "vp9":
        return {"crf": str(spec.crf + 12), "b": "0", "deadline": "realtime", "cpu-used": "8"}
    return {"flags": "+qscale", "global_quality": str(3 * 118)}  # qscale 3 (FF_QP2LAMBDA)


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


def _add_audio(container: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    webm = "webm" in container.format.name
    stream = container.add_stream("libopus" if webm else "aac", rate=48000 if webm else 44100)
    stream.layout = "mono"
    return stream


def _write_audio(container, stream, duration_s: float, track: np.ndarray | None = None) -> None:
    """Encode and mux `track` (float32[N] mono at the stream's rate), or by default a 440 Hz
    tone of `duration_s` seconds."""
    rate = stream.codec_context.sample_rate
    fmt = "flt" if stream.codec_context.name == "libopus" else "fltp"
    if track is None:
        t = np.arange(int(duration_s * rate), dtype=np.float32) / rate
        track = 0.2 * np.sin(2 * math.pi * 440 * t)
    samples = len(track)
    tone = np.asarray(track, dtype=np.float32)[None, :]
    for start in range(0, samples, 960):
        frame = av.AudioFrame.from_ndarray(tone[:, start:start + 960], format=fmt, layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def with_audio_track(src: str, dst: str, make_track) -> str:
    """Copy the video stream of `src` to `dst` (same container kind, packets as they are) and
    add an audio track: `make_track(rate)` -> float32[N] mono samples at the audio encoder's
    rate (e.g. `lambda rate: beep_audio(5.0, rate, 3.0, 0.5)`). Returns `dst`."""
    with av.open(src) as source, av.open(dst, "w") as out:
        video_in = source.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        audio = _add_audio(out)
        for packet in source.demux(video_in):
            if packet.dts is None:
                continue  # the demuxer's end-of-stream marker
            packet.stream = video_out
            out.mux(packet)
        track = make_track(audio.codec_context.sample_rate)
        _write_audio(out, audio, len(track) / audio.codec_context.sample_rate, track)
    return dst


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
                             spec: VideoSpec = VideoSpec(content="scene", duration_s=4.0),
                             audio_kinds: tuple[str, ...] | None = None
                             ) -> list[tuple[str, int]]:
    """Write `per_category` scene videos per class under `directory`; returns (path, category).

    audio_kinds: the sound of each class (category c gets audio_kinds[c % len(audio_kinds)],
    seeded per video); None keeps `spec`'s audio."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for c in range(num_categories):
        for j in range(per_category):
            s = dataclasses.replace(spec, content="scene", category=c, seed=1000 * c + j)
            if audio_kinds:
                s = dataclasses.replace(s, audio=True, audio_kind=audio_kinds[c % len(audio_kinds)])
            path = os.path.join(directory, f"cat{c:03d}_{j:03d}.{s.extension}")
            write_video(path, s)
            out.append((path, c))
    return out
