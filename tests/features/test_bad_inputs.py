"""Every kind of bad input gives VideoRejected with a stable reason (-> a dead-letter record)."""
import os

import pytest

from jobgraph.deadletter import DeadLetter
from transforms import synthetic_video as sv
from transforms.decode import REASONS, DecodeConfig, VideoRejected, decode_video


@pytest.fixture(scope="module")
def bad_files(video_factory, tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    mp4 = video_factory("src_mp4", duration_s=4.0).path
    webm = video_factory("src_webm", codec="vp9", duration_s=4.0).path
    p = lambda name: os.path.join(d, name)  # noqa: E731
    return {
        "zero": (sv.write_zero_bytes(p("zero.mp4")), "empty-file"),
        "random": (sv.write_not_a_video(p("random.mp4")), "not-a-video"),
        "text": (open(p("notes.txt"), "w").write("hello\n" * 200) and p("notes.txt"), "not-a-video"),
        "audio": (sv.write_audio_only(p("audio.m4a")), "no-video-stream"),
        "truncated_mp4": (sv.truncate_file(mp4, p("cut.mp4"), 0.5), "truncated"),
        "truncated_webm": (sv.truncate_file(webm, p("cut.webm"), 0.5), "truncated"),
        "corrupt_mp4": (sv.corrupt_file(mp4, p("bad.mp4"), start_fraction=0.2, length_fraction=0.5), "corrupt"),
        "corrupt_mp4_data": (sv.corrupt_file(mp4, p("bad2.mp4"), start_fraction=0.1, length_fraction=0.3), "corrupt"),
        "corrupt_webm": (sv.corrupt_file(webm, p("bad.webm"), start_fraction=0.2, length_fraction=0.5), "corrupt"),
        "missing": (p("does-not-exist.mp4"), "unreadable"),
    }


@pytest.mark.parametrize("name", ["zero", "random", "text", "audio", "truncated_mp4", "truncated_webm",
                                  "corrupt_mp4", "corrupt_mp4_data", "corrupt_webm", "missing"])
def test_bad_file_is_rejected_with_reason(bad_files, name):
    path, reason = bad_files[name]
    with pytest.raises(VideoRejected) as info:
        decode_video(path)
    assert info.value.reason == reason, info.value.message
    assert info.value.reason in REASONS
    letter = DeadLetter.from_exception("video-features", name, "decode", info.value)
    assert letter.reason == reason and letter.error_class == "VideoRejected" and letter.message


@pytest.mark.parametrize("config,reason", [
    (DecodeConfig(max_pixels=64 * 48 - 1), "frame-too-large"),
    (DecodeConfig(max_duration_s=3.0), "too-long"),
    (DecodeConfig(max_file_bytes=1000), "file-too-large"),
])
def test_limits(video_factory, config, reason):
    with pytest.raises(VideoRejected) as info:
        decode_video(video_factory("src_mp4", duration_s=4.0).path, config)
    assert info.value.reason == reason


def test_rejection_pickles_with_its_reason():
    import pickle

    exc = pickle.loads(pickle.dumps(VideoRejected("corrupt", "bad bytes")))
    assert exc.reason == "corrupt" and str(exc) == "bad bytes"
