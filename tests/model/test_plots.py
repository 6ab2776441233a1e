"""The charts of `klio model train`, `calibrate` and `evaluate`: each command writes its PNG
files, and they are real pictures (PNG signature, a few KB at least, sensible dimensions, more
than one colour). A small model is trained once for the module (about 20 s on 2 cores)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from model.classifier import synthetic
from model.classifier.config import builtin_config_path
from model.cli import model as model_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_real_png(path, min_bytes: int = 8_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > min_bytes, (path, len(data))
    import matplotlib.image

    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert 300 <= width <= 5000 and 200 <= height <= 5000, (path, image.shape)
    colours = np.unique(image.reshape(-1, image.shape[-1]), axis=0)
    assert len(colours) > 20, (path, len(colours))  # lines, text and bars, not a blank canvas


def _invoke(*args: str) -> dict:
    result = CliRunner().invoke(model_cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    files = synthetic.write_dataset(str(root / "data"), synthetic.SyntheticSpec(num_videos=400, seed=3))
    model_dir = root / "model"
    report = _invoke("train", "--config", builtin_config_path("synthetic-demo.yaml"),
                     "--train-data", files["train"][0], "--train-data", files["train"][1],
                     "--validate-data", files["validate"][0], "--model-dir", str(model_dir),
                     "--epochs", "3")
    return {"root": root, "files": files, "model_dir": model_dir, "train": report}


def test_train_writes_its_loss_and_validation_gap_curves(trained):
    png = trained["model_dir"] / "training_curves.png"
    assert trained["train"]["plot"] == str(png)
    assert [row["epoch"] for row in trained["train"]["history"]] == [1, 2, 3]
    assert_real_png(png)


def test_calibrate_writes_pr_curves_and_the_per_category_chart(trained):
    model_dir = trained["model_dir"]
    report = _invoke("calibrate", "--model-dir", str(model_dir), "--data", trained["files"]["validate"][0],
                     "--data", trained["files"]["validate"][1], "--target-precision", "0.8")
    expected = [str(model_dir / "calibration_pr_curves.png"), str(model_dir / "calibration_categories.png")]
    assert report["plots"] == expected  # next to thresholds.json
    for path in expected:
        assert_real_png(model_dir / path.rsplit("/", 1)[1])

    elsewhere = trained["root"] / "review"
    report = _invoke("calibrate", "--model-dir", str(model_dir), "--data", trained["files"]["validate"][0],
                     "--plots-dir", str(elsewhere))
    assert sorted(p.name for p in elsewhere.iterdir()) == ["calibration_categories.png",
                                                            "calibration_pr_curves.png"]


@pytest.mark.emulator
def test_calibration_charts_go_to_a_gs_plots_dir(trained, gcs_emulator):
    from google.cloud import storage

    report = _invoke("calibrate", "--model-dir", str(trained["model_dir"]), "--data",
                     trained["files"]["validate"][0], "--plots-dir", "gs://test-bucket/review")
    assert report["plots"] == ["gs://test-bucket/review/calibration_pr_curves.png",
                               "gs://test-bucket/review/calibration_categories.png"]
    bucket = storage.Client(project="test-project").bucket("test-bucket")
    for path in report["plots"]:
        data = bucket.blob(path.split("/", 3)[3]).download_as_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 8_000


def test_evaluate_writes_per_category_pr_curves_beside_the_global_curve(trained, tmp_path):
    out = tmp_path / "eval"
    result = _invoke("evaluate", "--model-dir", str(trained["model_dir"]), "--data",
                     trained["files"]["test"][0], "--out", str(out))
    assert result["files"]["pr_curves_png"] == "pr_curves.png"
    for name in ("precision_coverage.png", "pr_curves.png"):
        assert_real_png(out / name)

    skipped = tmp_path / "no-plots"
    _invoke("evaluate", "--model-dir", str(trained["model_dir"]), "--data", trained["files"]["test"][0],
            "--out", str(skipped), "--no-plots")
    assert sorted(p.name for p in skipped.iterdir()) == ["metrics.json", "precision_coverage.csv"]


def test_a_missing_plots_extra_is_one_line_naming_it_before_any_work(trained, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "p.npy", rng.random((40, 3)))
    np.save(tmp_path / "y.npy", (rng.random((40, 3)) > 0.5).astype(np.float32))
    thresholds = (trained["model_dir"] / "thresholds.json").read_bytes()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    runs = [["evaluate", "--predictions", str(tmp_path / "p.npy"), "--labels", str(tmp_path / "y.npy"),
             "--out", str(tmp_path / "o")],
            ["calibrate", "--model-dir", str(trained["model_dir"]), "--data", trained["files"]["validate"][0]]]
    for args in runs:
        result = CliRunner().invoke(model_cli, args)
        assert result.exit_code == 1, result.output
        [line] = result.output.strip().splitlines()
        assert "pip install 'video-iab[plots]'" in line and "--no-plots" in line
    assert not (tmp_path / "o").exists()
    assert (trained["model_dir"] / "thresholds.json").read_bytes() == thresholds  # nothing recalibrated
