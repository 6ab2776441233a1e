"""PyAV decoding of generated videos: timestamps, policies, codecs, VFR, rotation, colour."""
import io

import numpy as np
import pytest

from transforms.decode import DecodeConfig, VideoDecoder, decode_video
from transforms.synthetic_video import read_frame_index


def assert_samples_exact(decoded, video, config):
    """Each sample is the source frame on screen at its target time: ts <= t_k < next pts,
    and the pixels are that frame (its drawn index matches its timestamp)."""
    pts = np.array(video.pts_s)
    ends = np.append(pts[1:], np.inf)
    for k, (image, ts) in enumerate(zip(decoded.frames, decoded.timestamps_s)):
        i = read_frame_index(image)
        assert abs(pts[i] - ts) < 1e-6, f"sample {k}: pixels are frame {i} at {pts[i]}, ts says {ts}"
        target = k / config.fps
        assert ts <= target + 1e-9 < ends[i], f"sample {k}: frame {i} at {ts} does not cover {target}"


@pytest.mark.parametrize("codec", ["h264", "vp9", "mpeg4"])
@pytest.mark.parametrize("fps", [24, 25, 30, 60])
def test_codecs_and_rates_sample_exact_frames(video_factory, codec, fps):
    video = video_factory(f"{codec}_{fps}", codec=codec, fps=fps, duration_s=5.0, gop=2 * fps,
                          bframes=2 if codec != "vp9" else None)
    config = DecodeConfig()
    decoded = decode_video(video.path, config)
    assert decoded.frames.shape == (5, 299, 299, 3) and decoded.frames.dtype == np.uint8
    np.testing.assert_allclose(decoded.timestamps_s, np.arange(5), atol=1e-9)
    assert_samples_exact(decoded, video, config)


@pytest.mark.parametrize("codec", ["h264", "vp9", "mpeg4"])
def test_selective_decoding_is_bit_identical_to_full_decode(video_factory, codec):
    video = video_factory(f"{codec}_long_gop", codec=codec, fps=30, duration_s=12.0, gop=90,
                          bframes=3 if codec != "vp9" else None)
    fast = decode_video(video.path, DecodeConfig(fps=2.0))
    full = decode_video(video.path, DecodeConfig(fps=2.0, selective=False))
    assert fast.stats.mode.startswith("selective") and full.stats.mode == "full"
    assert np.array_equal(fast.frames, full.frames)
    assert np.array_equal(fast.timestamps_s, full.timestamps_s)
    assert full.stats.packets_decoded == full.stats.packets
    if codec in ("h264", "mpeg4"):
        assert fast.stats.packets_decoded < 0.8 * full.stats.packets_decoded


def test_variable_frame_rate(video_factory):
    video = video_factory("vfr", vfr=True, fps=30, duration_s=8.0)
    config = DecodeConfig()
    decoded = decode_video(video.path, config)
    assert len(decoded.frames) == 8
    assert_samples_exact(decoded, video, config)
    assert not np.allclose(decoded.timestamps_s, np.arange(8))  # real VFR: frames off the grid


def test_head_policy_caps_frames_on_a_two_minute_video(video_factory):
    video = video_factory("long", fps=25, duration_s=130.0, width=48, height=32, gop=250)
    config = DecodeConfig(max_frames=100)
    decoded = decode_video(video.path, config)
    assert len(decoded.frames) == 100
    np.testing.assert_allclose(decoded.timestamps_s, np.arange(100), atol=1e-9)
    assert_samples_exact(decoded, video, config)
    # head stops reading once the last target is resolved
    assert decoded.stats.packets < 0.85 * video.num_frames


def test_uniform_policy_spreads_samples(video_factory):
    video = video_factory("long", fps=25, duration_s=130.0, width=48, height=32, gop=250)
    decoded = decode_video(video.path, DecodeConfig(max_frames=26, policy="uniform"))
    assert len(decoded.frames) == 26
    np.testing.assert_allclose(decoded.timestamps_s, np.arange(26) * 5.0, atol=1 / 25)
    pts = np.array(video.pts_s)
    for image, ts in zip(decoded.frames, decoded.timestamps_s):
        assert abs(pts[read_frame_index(image)] - ts) < 1e-6


def test_short_and_fractional_durations_follow_policy(video_factory):
    one = decode_video(video_factory("one_second", duration_s=1.0).path)
    assert len(one.frames) == 1  # frames at 0..0.967 s: only t=0 is inside the video
    two_fps = decode_video(video_factory("h264_30", codec="h264", fps=30, duration_s=5.0, gop=60,
                                         bframes=2).path, DecodeConfig(fps=2.5))
    assert len(two_fps.frames) == 13  # t = 0, 0.4, ..., 4.8 < 5.0


def test_fps_above_source_rate_repeats_frames(video_factory):
    video = video_factory("h264_24", codec="h264", fps=24, duration_s=5.0, gop=48, bframes=2)
    config = DecodeConfig(fps=50.0, max_frames=60)
    decoded = decode_video(video.path, config)
    assert len(decoded.frames) == 60
    assert_samples_exact(decoded, video, config)
    assert len(set(decoded.timestamps_s.tolist())) < 60


def test_pure_red_clip_gives_red_rgb_pixels(video_factory):
    for codec in ("h264", "vp9", "mpeg4"):
        video = video_factory(f"red_{codec}", codec=codec, content="solid", color=(255, 0, 0))
        frames = decode_video(video.path).frames
        mean = frames.reshape(-1, 3).mean(axis=0)
        assert mean[0] > 230 and mean[1] < 25 and mean[2] < 25, (codec, mean)


@pytest.mark.parametrize("rotation,corner", [(0, (0, 0)), (90, (0, 1)), (180, (1, 1)), (270, (1, 0))])
def test_rotation_metadata_is_honoured(video_factory, rotation, corner):
    video = video_factory(f"rot{rotation}", content="quadrant", rotation=rotation, width=64, height=36)
    decoded = decode_video(video.path)
    image = decoded.frames[0].astype(int)
    half = 299 // 2
    quadrants = {(r, c): image[r * half + 20:(r + 1) * half - 20, c * half + 20:(c + 1) * half - 20, 0].mean()
                 for r in (0, 1) for c in (0, 1)}
    assert max(quadrants, key=quadrants.get) == corner, quadrants
    assert decoded.stats.rotation == rotation


def test_odd_sizes(video_factory):
    for codec in ("h264", "vp9", "mpeg4"):
        video = video_factory(f"odd_{codec}", codec=codec, width=67, height=45, duration_s=3.0)
        config = DecodeConfig()
        decoded = decode_video(video.path, config)
        assert decoded.frames.shape == (3, 299, 299, 3)
        assert_samples_exact(decoded, video, config)


def test_file_object_source_and_generator_interface(video_factory):
    video = video_factory("h264_25", codec="h264", fps=25, duration_s=5.0, gop=50, bframes=2)
    with open(video.path, "rb") as f:
        data = io.BytesIO(f.read())
    from_file = decode_video(data)
    with VideoDecoder(video.path, DecodeConfig()) as decoder:
        assert decoder.info.codec == "h264" and decoder.info.width == 64
        assert abs(decoder.info.duration_s - 5.0) < 1e-6
        samples = list(decoder.frames())
    assert [s.index for s in samples] == list(range(5))
    assert np.array_equal(np.stack([s.image for s in samples]), from_file.frames)


def test_config_validation():
    with pytest.raises(ValueError, match="policy"):
        DecodeConfig(policy="random")
    with pytest.raises(ValueError, match="fps"):
        DecodeConfig(fps=0)
    assert DecodeConfig().describe() == "head;fps=1;max_frames=300;size=299"


def test_uniform_without_declared_video_duration_scans_packets(video_factory):
    # WebM with audio: no per-stream duration, so "uniform" measures the video by demuxing
    video = video_factory("vp9_audio", codec="vp9", duration_s=6.0, audio=True)
    with VideoDecoder(video.path, DecodeConfig(max_frames=3, policy="uniform")) as decoder:
        assert decoder.info.duration_s is None
        samples = list(decoder.frames())
    assert [round(s.timestamp_s, 3) for s in samples] == [0.0, 2.0, 4.0]
    assert [read_frame_index(s.image) for s in samples] == [0, 60, 120]
