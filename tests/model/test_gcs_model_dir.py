"""A model directory on gs:// (the GCS emulator on loopback) loads like a local one."""
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from model.classifier import artifacts
from model.classifier.serving import load_classifier
from model.classifier.config import ModelConfig, StreamConfig
from model.classifier.nextvlad import build_model
from model.classifier.train import save_model_files

pytestmark = pytest.mark.emulator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gcs_emulator():
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "gcp-storage-emulator")
    proc = subprocess.Popen([exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
                             "--default-bucket", "models"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("GCS emulator did not start")
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    yield "gs://models"
    if old is None:
        os.environ.pop("STORAGE_EMULATOR_HOST")
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = old
    proc.terminate()
    proc.wait(timeout=10)


def test_load_classifier_from_gs(gcs_emulator, tmp_path):
    from apache_beam.io.filesystems import FileSystems

    config = ModelConfig(name="tiny", num_classes=3, rgb=StreamConfig(4, 2, 2, 2), max_frames=5,
                         hidden_size=4, gating_reduction=2)
    local = str(tmp_path / "m")
    os.makedirs(local)
    model = build_model(config, seed=0)
    with open(os.path.join(local, artifacts.CONFIG_FILE), "w") as f:
        from model.classifier.config import dump_config
        f.write(dump_config(config))
    save_model_files(model, config, local)
    remote = f"{gcs_emulator}/tiny-model"
    for name in artifacts.SERVING_FILES:
        with open(os.path.join(local, name), "rb") as src, \
                FileSystems.create(FileSystems.join(remote, name)) as dst:
            dst.write(src.read())
    frames = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    expected = load_classifier(local).predict(frames, [5, 2])
    from_gcs = load_classifier(remote)
    np.testing.assert_array_equal(from_gcs.predict(frames, [5, 2]), expected)
    assert from_gcs.config == config
    with pytest.raises(ValueError, match="missing"):
        load_classifier(f"{gcs_emulator}/no-such-model")
