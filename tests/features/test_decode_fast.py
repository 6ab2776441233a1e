"""Fast decoding (DecodeConfig.mode="fast", transforms/decode_fast.py): what it changes, what it
keeps, its PSNR guard against exact decoding, the provenance it records, and the stage timers."""
import os
import time

import av
import numpy as np
import pytest

from jobgraph.config import ConfigError, load_graph
from transforms import decode_fast
from transforms.decode import DecodeConfig, VideoDecoder, decode_video
from transforms.job_settings import features_config

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "klio-job.yaml")
# A clip whose GOPs are long enough for drift to build up: 5-s GOPs of x264 pictures with
# B-frames, moving category scenes (the content the benchmark clips show), 2 samples a second.
SCENE = dict(codec="h264", content="scene", category=2, width=320, height=180, duration_s=10.0,
             fps=30, gop=150, bframes=3, crf=23)


@pytest.fixture(scope="module")
def scene_decodes(video_factory):
    """{mode: DecodedVideo} of the scene clip at 2 fps."""
    video = video_factory("scene_h264_gop150", **SCENE)
    return {mode: decode_video(video.path, DecodeConfig(fps=2.0, mode=mode)) for mode in decode_fast.MODES}


def test_fast_h264_skips_the_loop_filter_and_stays_within_the_psnr_guard(scene_decodes):
    exact, fast = scene_decodes["exact"], scene_decodes["fast"]
    assert fast.frames.shape == exact.frames.shape == (20, 299, 299, 3)
    assert np.array_equal(fast.timestamps_s, exact.timestamps_s)
    assert fast.stats.packets_decoded == exact.stats.packets_decoded  # same plan, cheaper pictures
    assert fast.stats.mode == exact.stats.mode + "+fast"
    psnr = decode_fast.sample_psnr(fast.frames, exact.frames)
    keyframe_samples = {0, 10}  # t = 0 s and 5 s: the keyframes, still filtered in fast mode
    assert all(np.isinf(psnr[k]) for k in keyframe_samples), psnr  # identical pixels
    # Every other sample is predicted from unfiltered references, so its pixels moved.
    assert all(np.isfinite(p) for k, p in enumerate(psnr) if k not in keyframe_samples), psnr
    summary = decode_fast.psnr_summary(psnr)
    assert summary["identical"] == 2 and summary["samples"] == 20
    assert summary["mean_db"] >= decode_fast.PSNR_MEAN_MIN_DB, psnr
    assert summary["min_db"] >= decode_fast.PSNR_FLOOR_DB, psnr
    assert summary["passed"]


@pytest.mark.parametrize("codec", ["vp9", "mpeg4"])
def test_fast_is_exact_for_codecs_without_the_loop_filter_option(video_factory, codec):
    # FFmpeg's VP9 decoder ignores skip_loop_filter and MPEG-4 Part 2 has no in-loop filter: fast
    # mode must then give exact's bytes.
    for name, fields in [(f"{codec}_long_gop", dict(codec=codec, fps=30, duration_s=12.0, gop=90,
                                                    bframes=3 if codec != "vp9" else None)),
                         (f"odd_{codec}", dict(codec=codec, width=67, height=45, duration_s=3.0))]:
        video = video_factory(name, **fields)
        exact = decode_video(video.path, DecodeConfig(fps=2.0))
        fast = decode_video(video.path, DecodeConfig(fps=2.0, mode="fast"))
        assert np.array_equal(fast.frames, exact.frames), name
        assert fast.stats.mode.endswith("+fast") and not exact.stats.mode.endswith("+fast")


def test_source_frames_are_the_frames_that_samples_are_converted_from(video_factory):
    video = video_factory("h264_25", codec="h264", fps=25, duration_s=5.0, gop=50, bframes=2)
    with VideoDecoder(video.path, DecodeConfig()) as decoder:
        chosen = list(decoder.source_frames())
    assert [k for k, _ in chosen] == list(range(5))
    assert all(isinstance(frame, av.VideoFrame) and frame.width == 64 for _, frame in chosen)
    converted = np.stack([frame.reformat(width=299, height=299, format="rgb24",
                                         interpolation="BILINEAR").to_ndarray() for _, frame in chosen])
    assert np.array_equal(converted, decode_video(video.path).frames)


def test_the_mode_is_recorded_in_the_sampling_description():
    assert DecodeConfig().describe() == "head;fps=1;max_frames=300;size=299"  # as feature files always had
    assert DecodeConfig(mode="fast").describe() == "head;fps=1;max_frames=300;size=299;decode=fast"
    with pytest.raises(ValueError, match="mode"):
        DecodeConfig(mode="turbo")


def test_the_mode_is_a_job_setting():
    graph = load_graph(CONFIG, overrides=["video-features:job_config.decode.mode=fast"])
    decode = features_config(graph.job("video-features")).decode
    assert decode.mode == "fast" and decode.describe().endswith(";decode=fast")
    assert features_config(load_graph(CONFIG).job("video-features")).decode.mode == "exact"
    with pytest.raises(ConfigError, match="job_config.decode.mode"):
        features_config(load_graph(CONFIG, overrides=["video-features:job_config.decode.mode=turbo"])
                        .job("video-features"))


def test_stats_time_each_stage_of_a_decode(video_factory):
    video = video_factory("scene_h264_gop150", **SCENE)
    start = time.perf_counter()
    decoded = decode_video(video.path, DecodeConfig(fps=2.0))
    wall = time.perf_counter() - start
    stats = decoded.stats
    assert stats.demux_s > 0 and stats.codec_s > 0 and stats.convert_s > 0
    assert stats.demux_s + stats.codec_s + stats.convert_s <= wall


def test_sample_psnr():
    a = np.full((2, 4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[1] += 1  # MSE 1: 10 * log10(255^2) dB
    psnr = decode_fast.sample_psnr(b, a)
    assert np.isinf(psnr[0]) and psnr[1] == pytest.approx(48.1308, abs=1e-4)
    summary = decode_fast.psnr_summary(psnr)
    assert summary == {"mean_db": pytest.approx(48.1308, abs=1e-4), "min_db": pytest.approx(48.1308, abs=1e-4),
                       "identical": 1, "samples": 2, "passed": True}
    b[0] = 0  # a sample 100 levels off everywhere: 8.1 dB, under the floor
    assert not decode_fast.psnr_summary(decode_fast.sample_psnr(b, a))["passed"]
    with pytest.raises(ValueError, match="shape"):
        decode_fast.sample_psnr(b[:1], a)
