"""Hostile files against the decoder: each ends as VideoRejected with its reason code (or decodes
correctly), in bounded time and memory. The files are generated here (transforms.synthetic_video);
memory and hangs are measured on a decode in a child process."""
import dataclasses
import json
import os
import stat
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from transforms import synthetic_video as sv
from transforms.decode import REASONS, DecodeConfig, VideoDecoder, VideoRejected, decode_video
from transforms.synthetic_video import read_frame_index

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIME_LIMIT_S = 60.0
PEAK_RSS_LIMIT = 2 * 2**30

# Decodes argv[1] with DecodeConfig(**json argv[2]) and prints what happened as JSON, with the
# process's resident memory once everything is imported (baseline) and at its peak (VmHWM).
_CHILD = r"""
import json, sys, time
import transforms.decode_source
from transforms.decode import DecodeConfig, VideoRejected, decode_video

def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

baseline = status_bytes("VmRSS")
start = time.monotonic()
result = {}
try:
    video = decode_video(sys.argv[1], DecodeConfig(**json.loads(sys.argv[2])))
    result.update(frames=len(video.frames), mode=video.stats.mode)
except VideoRejected as exc:
    result.update(reason=exc.reason, message=exc.message)
result.update(seconds=time.monotonic() - start, baseline=baseline, peak=status_bytes("VmHWM"))
print(json.dumps(result))
"""


def decode_in_child(path: str, config: DecodeConfig = DecodeConfig()) -> dict:
    """Decode `path` in a fresh interpreter; its result dict (reason or frames, seconds, baseline
    and peak bytes). A decode that hangs fails the test after TIME_LIMIT_S."""
    fields = json.dumps(dataclasses.asdict(config))
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, path, fields], cwd=REPO,
                              capture_output=True, text=True, timeout=TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"decoding {path} did not finish within {TIME_LIMIT_S:g} s")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def rejection(path: str, config: DecodeConfig = DecodeConfig()) -> VideoRejected:
    """The VideoRejected decoding `path` raises in this process, within TIME_LIMIT_S."""
    start = time.monotonic()
    with pytest.raises(VideoRejected) as info:
        decode_video(path, config)
    assert time.monotonic() - start < TIME_LIMIT_S
    assert info.value.reason in REASONS
    return info.value


def declared_duration(path: str) -> float | None:
    """Seconds the container header declares (None: none), read without our decoder."""
    with av.open(path) as container:
        durations = [s.duration * s.time_base for s in container.streams if s.duration]
        if container.duration is not None:
            durations.append(container.duration / av.time_base)
    return float(max(durations)) if durations else None


# ---- what is opened at all ------------------------------------------------------------------

@pytest.fixture()
def videos_dir(tmp_path):
    """A videos folder, and a real video outside it."""
    folder = tmp_path / "videos"
    folder.mkdir()
    outside = sv.write_video(str(tmp_path / "elsewhere.mp4"), sv.VideoSpec(duration_s=1.0)).path
    return folder, outside


def test_fifo_is_rejected_without_blocking(videos_dir):
    folder, _ = videos_dir
    fifo = str(folder / "x.mp4")
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    result = decode_in_child(fifo)
    assert result["reason"] == "not-a-regular-file", result
    assert result["seconds"] < TIME_LIMIT_S


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_character_devices_are_rejected(path):
    assert rejection(path).reason == "not-a-regular-file"


def test_device_inside_the_videos_folder_is_rejected(videos_dir):
    folder, _ = videos_dir
    try:  # a twin of /dev/zero (character device 1,5): endless bytes, never a video
        os.mknod(folder / "zero.mp4", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    os.symlink("zero.mp4", folder / "link.mp4")
    for name in ("zero.mp4", "link.mp4"):
        assert rejection(str(folder / name)).reason == "not-a-regular-file"


def test_directory_named_like_a_video_is_rejected(videos_dir):
    folder, _ = videos_dir
    (folder / "dir.mp4").mkdir()
    assert rejection(str(folder / "dir.mp4")).reason == "not-a-regular-file"


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero", "outside-video"])
def test_symlink_out_of_the_videos_folder_is_rejected(videos_dir, target):
    folder, outside = videos_dir
    link = folder / "link.mp4"
    os.symlink(outside if target == "outside-video" else target, link)
    error = rejection(str(link))
    assert error.reason == "outside-root", error.message


def test_symlink_inside_the_videos_folder_is_followed(videos_dir):
    folder, outside = videos_dir
    os.makedirs(folder / "real")
    os.rename(outside, folder / "real" / "clip.mp4")
    os.symlink("real/clip.mp4", folder / "link.mp4")
    assert len(decode_video(str(folder / "link.mp4")).frames) == 1


# ---- frame size -----------------------------------------------------------------------------

@pytest.mark.parametrize("second", [(640, 480), (80, 60)])  # far over / just over the limit
@pytest.mark.parametrize("selective", [True, False])
def test_resolution_switch_mid_stream_is_rejected(tmp_path, second, selective):
    path = sv.write_resolution_switch(str(tmp_path / "switch.ts"), first=(64, 48), second=second)
    small = DecodeConfig(max_pixels=64 * 48, selective=selective)
    with VideoDecoder(path, small) as decoder:
        assert (decoder.info.width, decoder.info.height) == (64, 48)  # the header shows no switch
    assert rejection(path, small).reason == "frame-too-large"
    # within the limit the same file decodes: frames 0 (64x48) and 10 (the new size) at 0 s and 1 s
    decoded = decode_video(path, dataclasses.replace(small, max_pixels=second[0] * second[1]))
    assert [read_frame_index(image) for image in decoded.frames] == [0, 10]


def test_switch_to_8192x8192_is_rejected_without_decoding_it(tmp_path):
    path = sv.write_resolution_switch(str(tmp_path / "huge.ts"), first=(64, 48),
                                      second=(8192, 8192), frames_each=1, fps=1)
    # one decoder thread: FFmpeg's per-thread tables for the new size would vary with the cores
    result = decode_in_child(path, DecodeConfig(threads=1))
    assert result["reason"] == "frame-too-large", result
    assert result["seconds"] < TIME_LIMIT_S and result["peak"] < PEAK_RSS_LIMIT
    assert result["peak"] - result["baseline"] < 96 * 2**20  # one 8192x8192 frame is 96 MiB


# ---- container sniffing ---------------------------------------------------------------------

def test_png_bomb_renamed_mp4_is_rejected_before_ffmpeg_sees_it(tmp_path):
    path = sv.write_png_bomb(str(tmp_path / "bomb.mp4"), 16000, 16000)  # 2 GB decoded
    assert os.path.getsize(path) < 4 * 2**20
    result = decode_in_child(path)
    assert result["reason"] == "not-a-video", result
    assert "PNG" in result["message"]
    assert result["seconds"] < TIME_LIMIT_S and result["peak"] < PEAK_RSS_LIMIT
    assert result["peak"] - result["baseline"] < 64 * 2**20


@pytest.mark.parametrize("head", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00>\x80\x00\x00>\x80\x10\x06\x00\x00\x00",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"GIF89a\xff\xff\xff\xff",
    b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1",  # an AVIF still image is ISO BMFF too
    b"RIFF\x00\x00\x01\x00WEBPVP8 ", b"\x47" + b"\x00" * 100,  # one TS sync byte is not MPEG-TS
])
def test_non_video_signatures_are_rejected(tmp_path, head):
    path = tmp_path / "fake.mp4"
    path.write_bytes(head + bytes(4096))
    assert rejection(str(path)).reason == "not-a-video"


def test_every_accepted_container_still_decodes(tmp_path, video_factory):
    paths = [video_factory("src_mp4", duration_s=4.0).path,
             video_factory("src_webm", codec="vp9", duration_s=4.0).path,
             sv.write_resolution_switch(str(tmp_path / "a.ts"), second=(64, 48)),
             sv.write_single_gop(str(tmp_path / "a.mkv"), 2.0, streamed=False)]
    for path in paths:
        assert len(decode_video(path).frames) >= 2, path


# ---- long GOPs and timestamps ---------------------------------------------------------------

@pytest.fixture(scope="module")
def twenty_minute_gop(tmp_path_factory):
    """20 minutes at 2 fps, 64x48: one keyframe, then P-frames; no duration in the header."""
    return sv.write_single_gop(str(tmp_path_factory.mktemp("gop") / "gop.mkv"), 1200.0, fps=2)


def test_too_long_without_declared_duration_is_rejected_while_reading(twenty_minute_gop):
    assert declared_duration(twenty_minute_gop) is None
    error = rejection(twenty_minute_gop, DecodeConfig(max_duration_s=600.0))
    assert error.reason == "too-long", error.message


def test_long_gop_is_decoded_in_order_past_the_buffer_limit(twenty_minute_gop):
    limit = 4096
    buffered = decode_video(twenty_minute_gop, DecodeConfig())
    sequential = decode_video(twenty_minute_gop, DecodeConfig(max_gop_bytes=limit))
    assert buffered.stats.mode == "selective-parsed"
    assert sequential.stats.mode == "selective-parsed+sequential"
    assert sequential.stats.buffered_bytes_peak < 2 * limit + 2048  # two GOPs' worth and a packet
    assert buffered.stats.buffered_bytes_peak > 10 * limit
    np.testing.assert_array_equal(sequential.frames, buffered.frames)
    np.testing.assert_array_equal(sequential.timestamps_s, np.arange(300))
    assert [read_frame_index(image) for image in sequential.frames] == list(range(0, 600, 2))


def test_fat_gop_memory_stays_bounded(tmp_path):
    # one keyframe, then 200 P-frames each padded to 1 MiB: about 210 MB in a single GOP
    path = sv.write_single_gop(str(tmp_path / "fat.mkv"), 100.0, fps=2, filler_bytes=2**20)
    result = decode_in_child(path, DecodeConfig(max_frames=20, max_gop_bytes=8 * 2**20))
    assert result.get("frames") == 20 and result["mode"].endswith("+sequential"), result
    assert result["seconds"] < TIME_LIMIT_S and result["peak"] < PEAK_RSS_LIMIT
    assert result["peak"] - result["baseline"] < 100 * 2**20


def test_timestamp_jump_is_too_long(tmp_path):
    path = sv.write_timestamp_jump(str(tmp_path / "jump.mkv"), jump_s=1e9)  # 10^12 ticks of 1 ms
    assert declared_duration(path) is None
    assert rejection(path).reason == "too-long"


def test_timestamps_against_decode_order_are_corrupt(tmp_path):
    path = sv.write_shuffled_timestamps(str(tmp_path / "shuffled.mkv"))
    error = rejection(path)
    assert error.reason == "corrupt" and "backwards" in error.message, error.message


@pytest.mark.parametrize("declared_s,reason", [(1e6, "too-long"), (3 * 3600.0, "corrupt")])
def test_declared_duration_far_beyond_the_content(tmp_path, declared_s, reason):
    short = sv.write_single_gop(str(tmp_path / "short.mkv"), 2.0, fps=10, streamed=False)
    path = sv.declare_duration(short, str(tmp_path / "lying.mkv"), declared_s)
    assert declared_duration(path) == pytest.approx(declared_s)
    assert rejection(path).reason == reason


# ---- streams --------------------------------------------------------------------------------

@pytest.mark.parametrize("count,limit,reason", [(16, 16, None), (17, 16, "too-many-streams"),
                                                (64, None, None), (1000, None, "too-many-streams")])
def test_stream_count_is_capped(tmp_path, count, limit, reason):
    path = sv.write_many_streams(str(tmp_path / f"streams{count}.mkv"), count)
    config = DecodeConfig() if limit is None else DecodeConfig(max_streams=limit)
    if reason is None:
        assert len(decode_video(path, config).frames) == 1
    else:
        assert rejection(path, config).reason == reason


def test_many_high_resolution_streams_cost_no_probe_memory(tmp_path):
    # FFmpeg decodes frames of every stream while probing; 16 streams of 4096x2304 would take
    # about 40 MB each (more with more reference frames) before one stream is chosen
    path = sv.write_many_streams(str(tmp_path / "wide.mkv"), 16, 4096, 2304, frames=10)
    result = decode_in_child(path, DecodeConfig(threads=1))
    assert result.get("frames") == 1, result
    assert result["seconds"] < TIME_LIMIT_S and result["peak"] < PEAK_RSS_LIMIT
    assert result["peak"] - result["baseline"] < 300 * 2**20
