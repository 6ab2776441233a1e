"""Hostile audio streams against DecodeConfig(audio=True): whatever the audio track does (odd
rates and channel counts, timestamps that jump or are missing, several or undecodable streams,
a rate change mid-stream, audio far longer than the video), decode_video returns, its frames are
those of DecodeConfig(audio=False), and the windows stay aligned and bounded. The files are
crafted here with PyAV (H.264 "index" frames from synthetic_hostile.encode_h264 plus audio)."""
import fractions

import av
import numpy as np
import pytest

from model.audio.constants import SAMPLE_RATE, WINDOW_SAMPLES
from transforms import synthetic_video as sv
from transforms.decode import DecodeConfig, decode_video
from transforms.synthetic_hostile import encode_h264

FPS = 10
LOUD = 0.05


def _frame(samples: np.ndarray, fmt: str, layout: str, rate: int, pts: int) -> av.AudioFrame:
    """samples float32[C, N] -> an AudioFrame in `fmt` (flt/fltp/s16/s16p)."""
    data = (samples * 32767).astype(np.int16) if fmt.startswith("s16") else samples
    if not fmt.endswith("p"):
        data = data.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, fractions.Fraction(1, rate)
    return frame


def encode_audio(codec: str, rate: int, samples: np.ndarray, layout: str = "mono"
                 ) -> list[av.Packet]:
    """Packets of `samples` (float32[C, N]) encoded with `codec`; pts in 1/rate ticks."""
    cc = av.CodecContext.create(codec, "w")
    cc.sample_rate, cc.layout, cc.time_base = rate, layout, fractions.Fraction(1, rate)
    cc.format = cc.codec.audio_formats[0].name
    size = cc.frame_size or 1024
    packets = []
    for start in range(0, samples.shape[1], size):
        part = samples[:, start:start + size]
        if cc.frame_size and part.shape[1] < size:
            part = np.pad(part, ((0, 0), (0, size - part.shape[1])))
        packets += cc.encode(_frame(part, cc.format.name, layout, rate, start))
    packets += cc.encode(None)
    for packet in packets:
        packet.time_base = fractions.Fraction(1, rate)
    return [p for p in packets if p.pts is not None]


def tone(rate: int, seconds: float, freq: float = 440.0, channels: int = 1,
         amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([amplitude * np.sin(2 * np.pi * freq * (c + 1) * t)
                     for c in range(channels)]).astype(np.float32)


def mux(path: str, fmt: str, audio: list[tuple[str, int, str, list[av.Packet]]],
        video_s: float = 4.0, default: int | None = None, interleave: bool = True) -> str:
    """`video_s` seconds of H.264 at FPS plus one audio stream per (codec, rate, layout,
    packets); `default`: the audio stream given the default disposition (None: as the muxer
    likes). interleave=False writes every audio packet before the first video packet, as a
    live stream (never seeking back: a Matroska header then declares no duration)."""
    video = encode_h264(64, 48, int(video_s * FPS), FPS, keyframe_interval=FPS)
    options = {} if interleave else {"max_interleave_delta": "1"}
    with open(path, "wb") as file, av.open(file if interleave else _Pipe(file), "w", format=fmt,
                                           container_options=options) as container:
        stream = container.add_stream("h264", rate=FPS)
        stream.width, stream.height = 64, 48
        for packet in video:
            packet.time_base, packet.stream = fractions.Fraction(1, FPS), stream
        heard = []
        for i, (codec, rate, layout, packets) in enumerate(audio):
            a = container.add_stream(codec, rate=rate)
            a.layout = layout
            if default is not None:
                a.disposition = av.stream.Disposition(1 if i == default else 0)
            for packet in packets:
                packet.stream = a
            heard += packets
        if interleave:
            order = sorted(video + heard, key=lambda p: float(p.dts * p.time_base))
        else:
            order = heard + video
        for packet in order:
            container.mux(packet)
    return path


class _Pipe:
    """A write-only view of a file: FFmpeg muxers see a pipe."""

    def __init__(self, file):
        self.write = file.write


def raw_pcm(samples: np.ndarray, rate: int, dtype: str = "<i2", chunk: int = 1024
            ) -> list[av.Packet]:
    """PCM packets written directly (any channel count): samples float32[C, N]."""
    data = samples.T * 32767 if dtype == "<i2" else samples.T
    data = data.astype(dtype)
    packets = []
    for start in range(0, len(data), chunk):
        packet = av.Packet(np.ascontiguousarray(data[start:start + chunk]).tobytes())
        packet.pts = packet.dts = start
        packet.time_base = fractions.Fraction(1, rate)
        packets.append(packet)
    return packets


def shift(packets: list[av.Packet], seconds: float) -> list[av.Packet]:
    for packet in packets:
        ticks = round(seconds / packet.time_base)
        packet.pts += ticks
        packet.dts += ticks
    return packets


def heard(path: str, **config):
    """decode_video with audio, after checking its frames are those of a decode without."""
    plain = decode_video(path, DecodeConfig(**config))
    decoded = decode_video(path, DecodeConfig(audio=True, **config))
    np.testing.assert_array_equal(plain.frames, decoded.frames)
    assert plain.timestamps_s.tolist() == decoded.timestamps_s.tolist()
    assert decoded.audio.shape == (len(decoded.frames), WINDOW_SAMPLES)
    assert decoded.audio.dtype == np.float32 and np.isfinite(decoded.audio).all()
    return decoded


def loudest(decoded) -> np.ndarray:
    return np.abs(decoded.audio).max(axis=1)


def dominant_hz(window: np.ndarray) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(window)))) * SAMPLE_RATE / len(window)


def loud_span(window: np.ndarray) -> tuple[float, float]:
    loud = np.flatnonzero(np.abs(window) > LOUD)
    return loud[0] / SAMPLE_RATE, loud[-1] / SAMPLE_RATE


def strip_ts_audio_pts(path: str) -> str:
    """Clears PTS_DTS_flags in every audio PES header of an MPEG-TS file (in place): its audio
    packets then reach the decoder without timestamps."""
    data = bytearray(open(path, "rb").read())
    for off in range(0, len(data), 188):
        if data[off] != 0x47 or not data[off + 1] & 0x40:
            continue  # not the start of a PES packet
        control, at = (data[off + 3] >> 4) & 3, off + 4
        if control & 2:
            at += 1 + data[at]  # adaptation field
        if control & 1 and data[at:at + 3] == b"\x00\x00\x01" and 0xC0 <= data[at + 3] <= 0xDF:
            data[at + 7] &= 0x3F
    open(path, "wb").write(bytes(data))
    return path


# ---- rates, channels, layouts -----------------------------------------------------------------

@pytest.mark.parametrize("fmt, codec, rate", [
    ("mp4", "aac", 8000), ("matroska", "pcm_s16le", 96000), ("matroska", "libopus", 48000),
    ("mpegts", "mp2", 48000), ("mpegts", "ac3", 48000),
    ("matroska", "pcm_f32le", SAMPLE_RATE),  # already 16 kHz float mono: no resampling
])
def test_any_rate_and_codec_gives_the_tone_in_every_window(tmp_path, fmt, codec, rate):
    if codec.startswith("pcm"):
        packets = raw_pcm(tone(rate, 4.0), rate, "<f4" if codec == "pcm_f32le" else "<i2")
    else:
        packets = encode_audio(codec, rate, tone(rate, 4.0))
    path = mux(str(tmp_path / f"{codec}-{rate}.{fmt}"), fmt, [(codec, rate, "mono", packets)])
    decoded = heard(path)
    assert decoded.audio_stats.source == "stream" and decoded.audio_stats.decode_errors == 0
    assert loudest(decoded).min() > 0.2 and loudest(decoded).max() < 0.6
    assert [round(dominant_hz(w)) for w in decoded.audio] == [440] * 4


def test_eight_channels_are_mixed_down(tmp_path):
    path = mux(str(tmp_path / "7.1.mov"), "mov",
               [("pcm_s16le", 48000, "7.1", raw_pcm(tone(48000, 4.0, channels=8), 48000))])
    decoded = heard(path)
    assert decoded.audio_stats.decode_errors == 0 and loudest(decoded).min() > 0.2


def test_thirty_two_unnamed_channels_leave_the_track_silent_not_the_video_broken(tmp_path):
    # FFmpeg cannot mix an unspecified 32-channel layout to mono: every packet counts as an error
    path = mux(str(tmp_path / "32ch.mkv"), "matroska",
               [("pcm_s16le", 48000, "32 channels", raw_pcm(tone(48000, 4.0, channels=32), 48000))])
    decoded = heard(path)
    stats = decoded.audio_stats
    assert stats.source == "undecodable" and stats.packets > 100  # not one sample came out
    assert stats.decode_errors == stats.packets and not decoded.audio.any()


@pytest.mark.parametrize("right, level", [("silent", 0.4 / np.sqrt(2)), ("inverted", 0.0)])
def test_stereo_channels_are_averaged(tmp_path, right, level):
    left = tone(48000, 4.0, amplitude=0.4)[0]
    stereo = np.stack([left, np.zeros_like(left) if right == "silent" else -left])
    path = mux(str(tmp_path / "stereo.mkv"), "matroska",
               [("pcm_s16le", 48000, "stereo", raw_pcm(stereo, 48000))])
    assert np.allclose(loudest(heard(path)), level, atol=0.01)


# ---- timestamps ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["mp4", "mpegts"])
def test_audio_jumping_hours_ahead_is_not_decoded(tmp_path, fmt):
    packets = encode_audio("aac", 44100, tone(44100, 4.0))
    shift(packets[len(packets) // 2:], 3 * 3600.0)  # the second half plays 3 h later
    path = mux(str(tmp_path / f"jump.{fmt}"), fmt, [("aac", 44100, "mono", packets)])
    decoded = heard(path)
    assert decoded.audio_stats.decode_errors == 0 and decoded.audio_stats.heard_s < 2.1
    assert (loudest(decoded)[:2] > 0.2).all() and not decoded.audio[2:].any()


def test_audio_jumping_back_rewrites_earlier_windows(tmp_path):
    packets = encode_audio("mp2", 48000, tone(48000, 4.0))
    shift(packets[len(packets) // 2:], -2.0)  # seconds 2-4 play again over seconds 0-2
    decoded = heard(mux(str(tmp_path / "back.ts"), "mpegts", [("mp2", 48000, "mono", packets)]))
    assert decoded.audio_stats.decode_errors == 0 and decoded.audio_stats.heard_s < 2.1
    assert (loudest(decoded)[:2] > 0.2).all() and not decoded.audio[3].any()


@pytest.mark.parametrize("codec, rate", [("mp2", 48000), ("aac", 44100)])
def test_audio_packets_without_timestamps_follow_each_other(tmp_path, codec, rate):
    track = sv.beep_audio(4.0, rate, 2.0, 0.5)[None]
    path = mux(str(tmp_path / "timed.ts"), "mpegts",
               [(codec, rate, "mono", encode_audio(codec, rate, track))])
    with av.open(strip_ts_audio_pts(path)) as container:
        stream = container.streams.audio[0]
        assert all(p.pts is None for p in container.demux(stream) if p.size)
    decoded = heard(path)
    assert decoded.audio_stats.decode_errors == 0
    assert [k for k, level in enumerate(loudest(decoded)) if level > LOUD] == [2]
    # placed one after the other from the video's start: the encoder's delay shifts it a little
    assert np.allclose(loud_span(decoded.audio[2]), (0.0, 0.5), atol=0.06)


@pytest.mark.parametrize("fmt", ["mp4", "mpegts"])
def test_audio_that_starts_late_is_placed_by_its_timestamps(tmp_path, fmt):
    packets = shift(encode_audio("mp2", 48000, sv.beep_audio(4.0, 48000, 0.0, 0.3)[None]), 2.5)
    decoded = heard(mux(str(tmp_path / f"late.{fmt}"), fmt, [("mp2", 48000, "mono", packets)],
                        video_s=6.0))
    assert [k for k, level in enumerate(loudest(decoded)) if level > LOUD] == [2]
    assert np.allclose(loud_span(decoded.audio[2]), (0.5, 0.8), atol=0.02)


def test_a_minute_of_audio_before_the_first_video_packet(tmp_path):
    packets = encode_audio("mp2", 48000, tone(48000, 60.0))
    path = mux(str(tmp_path / "audio-first.mkv"), "matroska", [("mp2", 48000, "mono", packets)],
               video_s=60.0, interleave=False)
    with av.open(path) as container:
        kinds = [p.stream.type for p in container.demux() if p.size]
    assert kinds.index("video") >= len(packets) - 1  # the whole minute of audio comes first
    decoded = heard(path, max_frames=4)
    assert decoded.audio.shape[0] == 4 and loudest(decoded).min() > 0.2
    # all read before the first frame, but only the 4 windows max_frames allows are decoded
    assert decoded.audio_stats.packets >= len(packets) - 1 and decoded.audio_stats.heard_s < 4.1


def test_a_rate_change_mid_stream_keeps_the_pitch(tmp_path):
    packets = []
    for i, rate in enumerate((48000, 24000, 32000, 48000)):  # one second each, one stream
        for packet in encode_audio("mp2", rate, tone(rate, 1.0)):
            seconds = packet.pts * packet.time_base + i
            packet.pts = packet.dts = round(seconds * 90000)
            packet.time_base = fractions.Fraction(1, 90000)
            packets.append(packet)
    decoded = heard(mux(str(tmp_path / "rates.ts"), "mpegts", [("mp2", 48000, "mono", packets)]))
    assert 0 < decoded.audio_stats.decode_errors <= 6  # the frames at each change are dropped
    assert [round(dominant_hz(w)) for w in decoded.audio] == [440] * 4
    assert loudest(decoded).min() > 0.2


def test_audio_far_longer_than_a_one_second_video_is_read_only_to_the_last_window(tmp_path):
    second = encode_audio("mp2", 48000, tone(48000, 1.0))
    packets = []
    for repeat in range(600):  # ten minutes: one encoded second repeated
        for packet in second:
            copy = av.Packet(bytes(packet))
            copy.pts = copy.dts = packet.pts + repeat * 48000
            copy.time_base = packet.time_base
            packets.append(copy)
    path = mux(str(tmp_path / "long.mp4"), "mp4", [("mp2", 48000, "mono", packets)], video_s=1.0)
    decoded = heard(path, max_frames=5)
    assert decoded.audio.shape[0] == 1 and loudest(decoded)[0] > 0.2
    stats = decoded.audio_stats
    assert stats.packets > 20000 and stats.heard_s < 5 + 1  # demuxed all, decoded 5 windows' worth


# ---- which stream, and streams that cannot be decoded ----------------------------------------

@pytest.mark.parametrize("fmt, default, expected", [
    ("matroska", 1, 2000), ("mp4", 1, 2000), ("matroska", 0, 440), ("mpegts", None, 440)])
def test_the_default_audio_stream_is_heard_else_the_first(tmp_path, fmt, default, expected):
    streams = [("mp2", 48000, "mono", encode_audio("mp2", 48000, tone(48000, 4.0, freq)))
               for freq in (440.0, 2000.0)]
    decoded = heard(mux(str(tmp_path / f"two.{fmt}"), fmt, streams, default=default))
    assert [round(dominant_hz(w)) for w in decoded.audio] == [expected] * 4


def _aac_mkv(tmp_path) -> bytes:
    packets = encode_audio("aac", 44100, tone(44100, 4.0))
    return open(mux(str(tmp_path / "aac.mkv"), "matroska", [("aac", 44100, "mono", packets)]),
                "rb").read()


def test_an_unknown_audio_codec_is_undecodable(tmp_path):
    data = _aac_mkv(tmp_path)
    at = data.index(b"\x86\x85A_AAC")  # the audio track's CodecID element
    path = tmp_path / "unknown.mkv"
    path.write_bytes(data[:at] + b"\x86\x85A_ZZZ" + data[at + 7:])
    decoded = heard(str(path))
    assert decoded.audio_stats.source == "undecodable" and not decoded.audio.any()


def test_garbage_extradata_fails_every_audio_packet_not_the_video(tmp_path):
    data = _aac_mkv(tmp_path)
    at = data.index(b"\x63\xa2", data.index(b"\x86\x85A_AAC"))  # the audio's CodecPrivate
    size = data[at + 2] & 0x7F
    path = tmp_path / "garbage.mkv"
    path.write_bytes(data[:at + 3] + b"\xff" * size + data[at + 3 + size:])
    decoded = heard(str(path))
    stats = decoded.audio_stats
    assert stats.source == "undecodable" and stats.packets > 100  # not one sample came out
    assert stats.decode_errors == stats.packets and not decoded.audio.any()  # the flush is none


# ---- what once broke the contract ----------------------------------------------------------

def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def test_one_packet_at_a_few_hertz_cannot_blow_up_memory(tmp_path):
    # One 80-KB PCM packet declared at 8 Hz: 5,000 s of "sound", 2 GB once resampled to 16 kHz.
    samples = np.sign(np.sin(np.arange(40000) * 0.7))[None].astype(np.float32) * 0.3
    path = mux(str(tmp_path / "bomb.mkv"), "matroska",
               [("pcm_s16le", 8, "mono", raw_pcm(samples, 8, chunk=40000))], interleave=False)
    before = _peak_rss_mib()
    decoded = heard(path)
    assert _peak_rss_mib() - before < 200
    assert decoded.audio_stats.decode_errors == 1 and not decoded.audio.any()
    assert decoded.audio_stats.source == "undecodable"  # a packet, and not a sample out of it


def test_audio_without_timestamps_is_not_decoded_past_the_last_window(tmp_path):
    second = encode_audio("mp2", 48000, tone(48000, 1.0))
    packets = []
    for repeat in range(300):  # five minutes of audio for a one-second video
        for packet in second:
            copy = av.Packet(bytes(packet))
            copy.pts = copy.dts = packet.pts + repeat * 48000
            copy.time_base = packet.time_base
            packets.append(copy)
    path = strip_ts_audio_pts(mux(str(tmp_path / "untimed.ts"), "mpegts",
                                  [("mp2", 48000, "mono", packets)], video_s=1.0))
    decoded = heard(path, max_frames=5)
    assert loudest(decoded)[0] > 0.2 and decoded.audio_stats.heard_s < 6.1


def test_audio_long_before_the_video_starts_is_not_decoded(tmp_path):
    packets = encode_audio("mp2", 48000, tone(48000, 64.0))  # 1152 samples (24 ms) a packet
    video = encode_h264(64, 48, 4 * FPS, FPS, keyframe_interval=FPS)  # starts a minute later
    with av.open(str(tmp_path / "late-video.mp4"), "w") as out:
        v = out.add_stream("h264", rate=FPS)
        v.width, v.height = 64, 48
        a = out.add_stream("mp2", rate=48000)
        a.layout = "mono"
        muxed = []
        for packet in video:
            packet.pts += 60 * FPS
            packet.dts += 60 * FPS
            packet.time_base, packet.stream = fractions.Fraction(1, FPS), v
            muxed.append(packet)
        for packet in packets:
            packet.stream = a
            muxed.append(packet)
        for packet in sorted(muxed, key=lambda p: float(p.dts * p.time_base)):
            out.mux(packet)
    decoded = heard(str(tmp_path / "late-video.mp4"))
    stats = decoded.audio_stats
    assert loudest(decoded).min() > 0.2 and stats.decode_errors == 0
    assert stats.skipped >= 59 * 48000 // 1152  # the minute before the video, less the lead-in


@pytest.mark.parametrize("fmt", ["matroska", "mpegts"])
def test_audio_longer_than_the_video_does_not_make_it_look_cut(tmp_path, fmt):
    # Matroska and MPEG-TS give every stream the file's duration: the audio's, here 6 s.
    packets = encode_audio("aac", 44100, tone(44100, 6.0))
    path = mux(str(tmp_path / f"longer.{fmt}"), fmt, [("aac", 44100, "mono", packets)], video_s=4.0)
    decoded = heard(path)
    assert len(decoded.frames) == 4 and loudest(decoded).min() > 0.2


def test_non_finite_and_overloud_samples_become_silence_and_full_scale(tmp_path):
    samples = tone(16000, 4.0)
    samples[0, :8000] = np.nan
    samples[0, 16000:24000] = np.inf
    samples[0, 32000:40000] = 3e38
    path = mux(str(tmp_path / "nan.mkv"), "matroska",
               [("pcm_f32le", 16000, "mono", raw_pcm(samples, 16000, dtype="<f4"))])
    decoded = heard(path)  # checks the windows are finite
    assert np.abs(decoded.audio).max() <= 1.0
    assert np.abs(decoded.audio[2, :8000]).max() == 1.0  # clipped, not wrapped or NaN
    assert np.abs(decoded.audio[0, :8000]).max() == 0.0 and np.abs(decoded.audio[3]).max() > 0.2
