"""`klio features convert`: fills the embedders' conversion caches (frames, and audio when the job
has it) from the job config; a second process then loads the converted models without building
the Keras models."""
import json
import os
import subprocess
import sys

from tests.graph.helpers import CONFIG, REPO

KLIO = os.path.join(os.path.dirname(sys.executable), "klio")


def convert(*overrides, extra=()):
    args = [a for o in overrides for a in ("-O", o)]
    return subprocess.run([KLIO, "features", "convert", "-c", CONFIG, *args, *extra], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)


def test_convert_fills_the_caches_then_hits_them(tmp_path):
    embedder, audio = tmp_path / "embedder", tmp_path / "audio"
    settings = ["video-features:job_config.embedder.backend=openvino-fp32",
                f"video-features:job_config.embedder.cache_dir={embedder}",
                "video-features:job_config.embedder.calibration_frames=4",
                "video-features:job_config.audio={backend: openvino-fp32, calibration_windows: 130}"]
    first = convert(*settings, extra=("--audio-cache-dir", str(audio)))
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {
        "job": "video-features", "backend": "openvino-fp32", "cache_dir": str(embedder), "cache_hit": False,
        "audio": {"backend": "openvino-fp32", "cache_dir": str(audio), "cache_hit": False}}
    [entry] = os.listdir(embedder)
    meta = json.load(open(embedder / entry / "meta.json"))
    assert meta["source_key"] == "seeded:0:bn-frames:4"
    [entry] = os.listdir(audio)
    assert entry.startswith("audio-openvino-fp32-") and os.path.exists(audio / entry / "meta.json")
    second = convert(*settings, extra=("--audio-cache-dir", str(audio)))
    assert second.returncode == 0, second.stderr[-3000:]
    report = json.loads(second.stdout.strip().splitlines()[-1])
    assert report["cache_hit"] is True and report["audio"]["cache_hit"] is True


def test_a_job_without_audio_converts_only_the_embedder(tmp_path):
    result = convert("video-features:job_config.embedder.backend=openvino-fp32",
                     f"video-features:job_config.embedder.cache_dir={os.environ['VIDEO_IAB_CACHE']}/embedder",
                     "video-features:job_config.audio=null")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "audio" not in json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_to_convert_for_keras_is_a_clear_error():
    result = convert()  # the demo config: keras-fp32, no cache_dir
    assert result.returncode == 1
    assert "klio features: nothing-to-convert: job video-features: embedder backend 'keras-fp32'" in result.stderr
