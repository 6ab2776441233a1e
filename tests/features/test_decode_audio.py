"""The audio read in the same pass as the frames: one 16 kHz window per sampling target, aligned
to the targets' times, for videos with, without, with broken, longer or shorter audio."""
import numpy as np
import pytest

from model.audio.constants import SAMPLE_RATE, WINDOW_SAMPLES
from transforms import synthetic_video as sv
from transforms.decode import DecodeConfig, decode_video

# Generated AAC starts with the encoder's 1024 priming samples (23 ms at 44.1 kHz), which our
# writer does not mark as skippable: alignment is checked to within that.
AAC_PRIMING_S = 1024 / 44100
LOUD = 0.05


def _loud_span(window: np.ndarray) -> tuple[float, float]:
    """(first, last) second inside `window` where the signal is loud."""
    loud = np.flatnonzero(np.abs(window) > LOUD)
    return loud[0] / SAMPLE_RATE, loud[-1] / SAMPLE_RATE


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("audio") / "silent.mp4")
    return sv.write_video(path, sv.VideoSpec(duration_s=6.0, fps=10, bframes=2)).path


@pytest.mark.parametrize("start_s, length_s, windows", [
    (3.0, 0.5, {3: (0.0, 0.5)}),
    (2.5, 1.0, {2: (0.5, (WINDOW_SAMPLES - 1) / SAMPLE_RATE), 3: (0.0, 0.5)})])
def test_windows_hear_what_plays_from_their_target_time(silent_video, tmp_path, start_s, length_s,
                                                         windows):
    path = sv.with_audio_track(silent_video, str(tmp_path / "beep.mp4"),
                               lambda rate: sv.beep_audio(6.0, rate, start_s, length_s))
    decoded = decode_video(path, DecodeConfig(audio=True))
    assert decoded.audio.shape == (6, WINDOW_SAMPLES) and decoded.audio.dtype == np.float32
    assert decoded.audio_timestamps_s.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert decoded.audio_stats.source == "stream" and decoded.audio_stats.decode_errors == 0
    for k, window in enumerate(decoded.audio):
        if k not in windows:
            assert np.abs(window).max() < LOUD, k
            continue
        span = _loud_span(window)
        assert np.allclose(span, windows[k], atol=AAC_PRIMING_S + 0.005), (k, span)


def test_audio_does_not_change_the_frames(silent_video, tmp_path):
    path = sv.with_audio_track(silent_video, str(tmp_path / "tone.mp4"),
                               lambda rate: sv.category_audio("tone", 3, 6.0, rate))
    plain, heard = decode_video(path), decode_video(path, DecodeConfig(audio=True))
    assert plain.audio is None and plain.audio_stats is None  # off unless asked for
    np.testing.assert_array_equal(plain.frames, heard.frames)
    assert plain.timestamps_s.tolist() == heard.timestamps_s.tolist()
    assert heard.stats.packets == plain.stats.packets  # audio packets are not video packets
    assert np.abs(heard.audio).max(axis=1).min() > 0.2  # every window hears the tone


def test_a_video_without_audio_gets_a_silent_track(silent_video):
    decoded = decode_video(silent_video, DecodeConfig(audio=True))
    assert decoded.audio.shape == (6, WINDOW_SAMPLES) and not decoded.audio.any()
    assert decoded.audio_stats.source == "none" and decoded.audio_stats.packets == 0


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_audio_shorter_than_the_video_leaves_the_last_windows_silent(tmp_path, codec):
    spec = sv.VideoSpec(codec=codec, duration_s=4.0, fps=10, audio=True, audio_kind="noise",
                        audio_duration_s=1.5)
    decoded = decode_video(sv.write_video(str(tmp_path / f"short.{spec.extension}"), spec).path,
                           DecodeConfig(audio=True))
    loudest = np.abs(decoded.audio).max(axis=1)
    assert decoded.audio.shape[0] == 4 and loudest[0] > 0.1 and loudest[1] > 0.1
    assert loudest[2] == 0 and loudest[3] == 0
    _, last = _loud_span(decoded.audio[1])
    assert 0.4 < last < 0.6  # 1.5 s of sound: half of window 1


def test_audio_longer_than_the_video_is_cut_at_the_last_window(tmp_path):
    spec = sv.VideoSpec(duration_s=3.0, fps=10, audio=True, audio_kind="rhythm", audio_duration_s=30.0)
    path = sv.write_video(str(tmp_path / "long.mp4"), spec).path
    decoded = decode_video(path, DecodeConfig(audio=True))
    assert decoded.audio.shape == (3, WINDOW_SAMPLES) and decoded.frames.shape[0] == 3
    assert np.abs(decoded.audio[2]).max() > 0.1
    # audio after the last window a video may have (max_frames targets) is not decoded
    bounded = decode_video(path, DecodeConfig(audio=True, max_frames=6))
    np.testing.assert_array_equal(bounded.audio, decoded.audio)
    assert decoded.audio_stats.heard_s > 29 and bounded.audio_stats.heard_s < 6.1


def test_head_sampling_stops_reading_audio_with_the_frames(tmp_path):
    spec = sv.VideoSpec(duration_s=30.0, fps=5, audio=True, audio_kind="speech")
    path = sv.write_video(str(tmp_path / "long-video.mp4"), spec).path
    decoded = decode_video(path, DecodeConfig(audio=True, max_frames=4))
    assert decoded.audio.shape == (4, WINDOW_SAMPLES)
    assert decoded.audio_stats.heard_s < 4.1
    assert np.abs(decoded.audio).max(axis=1).min() > 0.05


def test_corrupt_audio_packets_are_skipped_and_counted(tmp_path):
    spec = sv.VideoSpec(duration_s=4.0, fps=10, audio=True, audio_kind="tone", seed=1)
    clean = sv.write_video(str(tmp_path / "clean.mp4"), spec).path
    broken = sv.corrupt_audio(clean, str(tmp_path / "broken.mp4"))
    good, bad = decode_video(clean, DecodeConfig(audio=True)), decode_video(broken, DecodeConfig(audio=True))
    np.testing.assert_array_equal(good.frames, bad.frames)  # the video is untouched
    assert bad.audio.shape == good.audio.shape
    assert bad.audio_stats.source == "stream"
    assert bad.audio_stats.decode_errors > bad.audio_stats.packets // 2
    assert good.audio_stats.decode_errors == 0
