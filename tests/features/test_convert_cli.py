"""`klio features convert`: fills the embedder's conversion cache from the job config; a second
process then loads the converted model without building the Keras model."""
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


def test_convert_fills_the_cache_then_hits_it(tmp_path):
    settings = ["video-features:job_config.embedder.backend=openvino-fp32",
                f"video-features:job_config.embedder.cache_dir={tmp_path}",
                "video-features:job_config.embedder.calibration_frames=4",
                "video-features:job_config.audio=null"]
    first = convert(*settings)
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {
        "job": "video-features", "backend": "openvino-fp32", "cache_dir": str(tmp_path), "cache_hit": False}
    [entry] = os.listdir(tmp_path)
    meta = json.load(open(tmp_path / entry / "meta.json"))
    assert meta["source_key"] == "seeded:0:bn-frames:4"
    second = convert(*settings)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout.strip().splitlines()[-1])["cache_hit"] is True


def test_convert_fills_the_audio_embedders_cache_too(tmp_path):
    embedder = tmp_path / "embedder"
    settings = ["video-features:job_config.embedder.backend=openvino-fp32",
                f"video-features:job_config.embedder.cache_dir={embedder}",
                "video-features:job_config.embedder.calibration_frames=4",
                "video-features:job_config.audio={backend: openvino-fp32, calibration_windows: 130}"]
    first = convert(*settings, extra=("--audio-cache-dir", str(tmp_path / "audio")))
    assert first.returncode == 0, first.stderr[-3000:]
    audio = json.loads(first.stdout.strip().splitlines()[-1])["audio"]
    assert audio == {"backend": "openvino-fp32", "cache_dir": str(tmp_path / "audio"), "cache_hit": False}
    [entry] = os.listdir(tmp_path / "audio")
    assert entry.startswith("audio-openvino-fp32-")
    assert os.path.exists(tmp_path / "audio" / entry / "meta.json")


def test_nothing_to_convert_for_keras_is_a_clear_error():
    result = convert()  # the demo config: keras-fp32, no cache_dir
    assert result.returncode == 1
    assert "klio features: nothing-to-convert: job video-features: embedder backend 'keras-fp32'" in result.stderr
