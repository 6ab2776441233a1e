"""DecodeAhead: decoding in a helper process gives exactly the in-process result, rejects bad
input with the same reason, and survives the helper dying."""
import os
import signal

import numpy as np
import pytest

from transforms import synthetic_video as sv
from transforms.decode import DecodeConfig, VideoRejected, decode_video
from transforms.decode_ahead import DecodeAhead


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("ahead")
    paths = {"a": str(d / "a.mp4"), "b": str(d / "b.webm"), "empty": str(d / "empty.mp4")}
    sv.write_video(paths["a"], sv.VideoSpec(duration_s=3.0, content="scene"))
    sv.write_video(paths["b"], sv.VideoSpec(codec="vp9", duration_s=2.0, width=96, height=64))
    sv.write_zero_bytes(paths["empty"])
    return paths


@pytest.mark.parametrize("depth", [0, 2])
def test_same_frames_and_rejections_as_in_process(videos, depth):
    config = DecodeConfig()
    with DecodeAhead(config, depth) as ahead:
        pending = [ahead.submit(videos[k]) for k in ("a", "empty", "b")]
        a, b = pending[0].result(), pending[2].result()
        with pytest.raises(VideoRejected) as rejected:
            pending[1].result()
    assert rejected.value.reason == "empty-file"
    for got, key in ((a, "a"), (b, "b")):
        want = decode_video(videos[key], config)
        np.testing.assert_array_equal(got.frames, want.frames)
        np.testing.assert_array_equal(got.timestamps_s, want.timestamps_s)


def test_a_helper_crash_fails_only_the_video_it_was_decoding(videos):
    with DecodeAhead(DecodeConfig(), depth=2) as ahead:
        first, second = ahead.submit(videos["a"]), ahead.submit(videos["b"])
        for pid in list(ahead._pool._processes):  # what a segfault in FFmpeg would do
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(VideoRejected) as crashed:
            first.result(timeout=60)
        assert crashed.value.reason == "decoder-crashed"
        assert len(second.result(timeout=60).frames) == 2  # decoded again by a new helper
        assert len(ahead.submit(videos["a"]).result(timeout=60).frames) == 3


def test_negative_depth_is_refused():
    with pytest.raises(ValueError, match="depth"):
        DecodeAhead(DecodeConfig(), -1)
