"""`klio features extract|show|fit-pca` on a generated video (seeded weights, in-process)."""
import json
import os

import numpy as np
from click.testing import CliRunner

from tests.features.conftest import SEED
from transforms.cli import features
from model.features.codec import FeatureRecord
from transforms.features_io import write_features


def test_extract_then_show(video_factory, tmp_path):
    video = video_factory("h264_30", codec="h264", fps=30, duration_s=5.0, gop=60, bframes=2)
    out = str(tmp_path / "one.tfrecord")
    runner = CliRunner()
    result = runner.invoke(features, ["extract", video.path, "-o", out, "--weights", "seeded",
                                      "--seed", str(SEED), "--fps", "2", "--max-frames", "6",
                                      "--policy", "head"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(features, ["show", out])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert info["id"] == "h264_30" and info["num_frames"] == 6 and info["dim"] == 2048
    assert info["dtype"] == "float16" and info["timestamps"] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert info["embedder"]["name"] == "inception_v3" and info["embedder"]["backend"] == "keras-fp32"
    assert info["sampling"] == "head;fps=2;max_frames=6;size=299"


def test_errors_exit_nonzero_with_one_line(tmp_path):
    bad = tmp_path / "zero.mp4"
    bad.write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(features, ["extract", str(bad), "-o", str(tmp_path / "x.tfrecord"),
                                      "--weights", "seeded", "--seed", str(SEED)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["klio features: empty-file: the file is empty (0 bytes)"]
    result = runner.invoke(features, ["extract", str(bad), "-o", "x", "--weights", "seeded"])
    assert result.exit_code == 1 and "seed" in result.output
    result = runner.invoke(features, ["show", str(tmp_path / "missing.tfrecord")])
    assert result.exit_code == 1 and result.output.startswith("klio features: unreadable:")


def test_fit_pca_from_feature_files(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(4):
        rgb = rng.normal(size=(30, 2048)).astype(np.float16)
        write_features(str(tmp_path / f"v{i}.tfrecord"), FeatureRecord(
            video_id=f"v{i}", rgb=rgb, timestamps_s=list(range(30)), duration_s=30.0,
            embedder_name="inception_v3", embedder_version="t", embedder_backend="keras-fp32",
            embedder_precision="fp32", sampling="head"))
    out = str(tmp_path / "pca.npz")
    result = CliRunner().invoke(features, ["fit-pca", str(tmp_path / "*.tfrecord"), "-o", out,
                                           "--dims", "16", "--sample", "100"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {"output": out, "files": 4, "frames_seen": 120, "frames_used": 100, "dims": 16}
    from model.features.pca import load_pca

    params = load_pca(out)
    assert params.eigenvecs.shape == (2048, 16) and params.num_samples == 100
    assert os.path.exists(out)
