"""Synthetic sound tracks: category-typical kinds that stay apart, deterministic per seed, of the
right length; videos written with them; and audio packets corrupted with the video intact."""
import os

import av
import numpy as np
import pytest

from transforms.synthetic_video import (AUDIO_KINDS, VideoSpec, beep_audio, category_audio,
                                        corrupt_audio, write_video)

RATE = 16000


def _signature(x: np.ndarray, rate: int = RATE) -> dict:
    """centroid Hz; tonal: power share of the strongest 1 % of bins; envelope (10 ms RMS)
    depth std/mean and its rate (mod_hz: 1 / the lag of its first strong autocorrelation peak)."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    hop = rate // 100
    envelope = np.sqrt((x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1))
    centred = envelope - envelope.mean()
    autocorrelation = np.correlate(centred, centred, "full")[len(centred) - 1:]
    window = autocorrelation[12:100]  # periods of 0.12-1 s, in 10 ms steps
    # the first strong peak: multiples of the period correlate about as well
    peaks = [i for i in range(1, len(window) - 1)
             if window[i - 1] <= window[i] >= window[i + 1] and window[i] >= 0.5 * window.max()]
    return {"centroid": float((freqs * power).sum() / power.sum()),
            "tonal": float(np.sort(power)[::-1][: len(power) // 100].sum() / power.sum()),
            "depth": float(envelope.std() / envelope.mean()),
            "mod_hz": 100.0 / (12 + peaks[0]) if peaks else 0.0}


@pytest.mark.parametrize("seed", range(4))
def test_kinds_have_their_own_signature(seed):
    tone, noise, rhythm, speech = (_signature(category_audio(k, seed, 6.0, RATE))
                                   for k in ("tone", "noise", "rhythm", "speech"))
    assert tone["tonal"] > 0.9 and tone["depth"] < 0.1 and 200 < tone["centroid"] < 1500
    assert noise["centroid"] > 2500 and noise["tonal"] < 0.3 and noise["depth"] < 0.3
    assert rhythm["depth"] > 1.2 and 1.9 <= rhythm["mod_hz"] <= 3.1 and rhythm["centroid"] < 400
    assert 0.5 < speech["depth"] < 1.5 and 2.9 <= speech["mod_hz"] <= 5.1
    assert 0.2 < speech["tonal"] < 0.8 and 400 < speech["centroid"] < 2000
    assert not category_audio("silence", seed, 1.0, RATE).any()


@pytest.mark.parametrize("kind", AUDIO_KINDS)
def test_deterministic_per_seed_in_range_and_long_enough(kind):
    a = category_audio(kind, 5, 1.5, 44100)
    assert a.dtype == np.float32 and a.shape == (int(1.5 * 44100),)
    assert np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, category_audio(kind, 5, 1.5, 44100))
    if kind != "silence":
        assert not np.array_equal(a, category_audio(kind, 6, 1.5, 44100))


def test_seeds_vary_a_kind_within_its_range():
    pitches = {round(_signature(category_audio("tone", s, 2.0, RATE))["centroid"]) for s in range(4)}
    assert len(pitches) == 4


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        category_audio("jazz", 0, 1.0, RATE)
    with pytest.raises(ValueError, match="audio_kind"):
        write_video("unused.mp4", VideoSpec(audio_kind="tone"))  # audio=False


def test_beep_sits_where_asked():
    x = beep_audio(2.0, RATE, start_s=0.5, length_s=0.25, freq=1000.0)
    assert x.shape == (2 * RATE,) and x.dtype == np.float32
    loud = np.flatnonzero(np.abs(x) > 0.01)
    assert loud[0] / RATE == pytest.approx(0.5, abs=1e-3)
    assert loud[-1] / RATE == pytest.approx(0.75, abs=1e-3)
    assert _signature(x)["centroid"] == pytest.approx(1000, rel=0.05)


def _decoded_audio(path: str) -> tuple[np.ndarray, int]:
    with av.open(path) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    return np.concatenate(chunks), rate


@pytest.mark.parametrize("codec, audio_s, frame", [("h264", None, 1024), ("h264", 3.0, 1024),
                                                   ("vp9", 1.0, 960)])
def test_video_with_audio_kind_has_a_track_of_the_asked_length(tmp_path, codec, audio_s, frame):
    spec = VideoSpec(codec=codec, duration_s=2.0, fps=10, audio=True, audio_kind="noise",
                     audio_duration_s=audio_s, seed=2)
    video = write_video(str(tmp_path / f"v.{spec.extension}"), spec)
    samples, rate = _decoded_audio(video.path)
    wanted = (audio_s or 2.0) * rate
    # the codec adds priming samples and pads the last frame: at most two frames more
    assert wanted <= len(samples) <= wanted + 2 * frame
    assert _signature(samples, rate)["centroid"] > 2500
    with av.open(video.path) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20


def test_default_audio_stays_the_440_hz_tone(tmp_path):
    video = write_video(str(tmp_path / "v.mp4"), VideoSpec(duration_s=1.0, fps=10, audio=True))
    samples, rate = _decoded_audio(video.path)
    power = np.abs(np.fft.rfft(samples)) ** 2
    assert np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(power)] == pytest.approx(440, abs=3)
    assert np.abs(samples).max() == pytest.approx(0.2, abs=0.03)


def test_corrupt_audio_breaks_audio_and_keeps_video(tmp_path):
    spec = VideoSpec(duration_s=2.0, fps=10, audio=True, audio_kind="speech", seed=1)
    video = write_video(str(tmp_path / "v.mp4"), spec)
    broken = corrupt_audio(video.path, str(tmp_path / "broken.mp4"), seed=3)
    assert os.path.getsize(broken) == os.path.getsize(video.path)
    with av.open(video.path) as a, av.open(broken) as b:
        original = [frame.to_ndarray(format="rgb24") for frame in a.decode(video=0)]
        after = [frame.to_ndarray(format="rgb24") for frame in b.decode(video=0)]
    assert len(after) == len(original) == 20
    assert all(np.array_equal(x, y) for x, y in zip(original, after))
    failed = total = 0
    with av.open(broken) as container:
        for packet in container.demux(container.streams.audio[0]):
            if packet.size:
                total += 1
                try:
                    packet.decode()
                except av.error.FFmpegError:
                    failed += 1
    assert total > 50 and failed >= 0.5 * total, (failed, total)


def test_category_videos_get_their_class_sound(tmp_path):
    from transforms.synthetic_video import generate_category_videos

    spec = VideoSpec(content="scene", duration_s=1.0, fps=5)
    videos = generate_category_videos(str(tmp_path), 2, 1, spec, audio_kinds=("tone", "noise"))
    centroids = [_signature(*_decoded_audio(path))["centroid"] for path, _ in videos]
    assert centroids[0] < 1500 < 2500 < centroids[1]
