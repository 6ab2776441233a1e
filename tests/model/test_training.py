"""End to end on the synthetic set: training quality, NeXtVLAD vs mean pooling, the metadata
branch, resume, the model directory, calibration, evaluation and the CLI.

Three small models are trained once per module (about 40 s on 2 CPU cores).
"""
import dataclasses
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from model.classifier import artifacts, data, metrics, synthetic, train
from model.classifier.baseline import build_mean_pool_model
from model.classifier.calibrate import calibrate_model_dir
from model.classifier.serving import load_classifier
from model.cli import model as model_cli
from model.classifier.config import builtin_config_path, load_config
from model.classifier.evaluate import evaluate_model_dir

SPEC = synthetic.SyntheticSpec(num_videos=1500, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    files = synthetic.write_dataset(str(root / "data"), SPEC)
    config = load_config(builtin_config_path("synthetic-demo.yaml"))
    runs = {
        "nextvlad": (config, {}),
        "no_metadata": (config.replace(metadata=None), {}),
        "mean_pool": (config.replace(train=dataclasses.replace(config.train, learning_rate=1e-2,
                                                                epochs=20)),
                      {"builder": build_mean_pool_model}),
    }
    out = {"files": files, "root": root}
    for name, (cfg, kwargs) in runs.items():
        result = train.train(cfg, files["train"], str(root / name), **kwargs)
        test = data.read_examples(files["test"], cfg)
        scores = train.predict_arrays(result.model, test, cfg)
        out[name] = {"config": cfg, "result": result, "scores": scores, "labels": test["labels"],
                     "aps": metrics.class_average_precisions(scores, test["labels"], 20),
                     "test": test}
    return out


def test_nextvlad_reaches_gap_09_on_synthetic(trained):
    run = trained["nextvlad"]
    assert metrics.gap(run["scores"], run["labels"], 20) >= 0.9
    losses = [row["loss"] for row in run["result"].history]
    assert losses[-1] < losses[0] / 3


def test_nextvlad_beats_mean_pooling_on_few_informative_frames(trained):
    sparse = SPEC.classes_of(synthetic.SPARSE)
    nextvlad = np.mean(trained["nextvlad"]["aps"][sparse])
    baseline = np.mean(trained["mean_pool"]["aps"][sparse])
    assert nextvlad >= 0.9
    assert nextvlad - baseline >= 0.2, (nextvlad, baseline)
    # on classes that fill a third of the frames both do well: the gap is about pooling
    dense = SPEC.classes_of(synthetic.DENSE)
    assert np.mean(trained["mean_pool"]["aps"][dense]) >= 0.9


def test_metadata_branch_helps_where_metadata_carries_signal(trained):
    meta = SPEC.classes_of(synthetic.METADATA_KIND)
    with_meta = np.mean(trained["nextvlad"]["aps"][meta])
    without = np.mean(trained["no_metadata"]["aps"][meta])
    assert with_meta - without >= 0.25, (with_meta, without)
    visual = SPEC.classes_of(synthetic.DENSE) + SPEC.classes_of(synthetic.SPARSE)
    assert np.mean(trained["no_metadata"]["aps"][visual]) >= 0.95
    # off: the data pipeline feeds no metadata and the model has no metadata input
    assert "metadata" not in trained["no_metadata"]["test"]
    assert "metadata" not in trained["no_metadata"]["result"].model.input


def test_resume_continues_and_refuses_a_different_config(trained):
    run = trained["no_metadata"]
    model_dir = run["result"].model_dir
    config = run["config"]
    resumed = train.train(config, trained["files"]["train"], model_dir,
                          epochs=config.train.epochs + 1)
    assert resumed.resumed_from_epoch == config.train.epochs
    assert [row["epoch"] for row in resumed.history] == list(range(1, config.train.epochs + 2))
    with pytest.raises(train.ResumeMismatchError, match="hidden_size"):
        train.train(config.replace(hidden_size=32), trained["files"]["train"], model_dir)


def test_model_directory_loads_and_serves(trained):
    run = trained["nextvlad"]
    model_dir = run["result"].model_dir
    for name in artifacts.SERVING_FILES:
        assert os.path.exists(os.path.join(model_dir, name))
    classifier = load_classifier(model_dir)
    assert classifier.config == run["config"] and len(classifier.categories) == 12
    test, n = run["test"], 16
    by_id = {v.video_id: v.metadata for v in synthetic.generate_videos(SPEC)}
    metadata = [by_id[raw.decode()] for raw in test["id"][:n]]
    counts = test["num_frames"][:n]
    # unpadded frames and raw metadata dicts give the scores of the training pipeline's inputs
    scores = classifier.predict(test["rgb"][:n, :counts.max()], counts, metadata)
    np.testing.assert_allclose(scores, run["scores"][:n], rtol=1e-4, atol=1e-5)
    without = classifier.predict(test["rgb"][:n], counts, None)
    assert np.max(np.abs(without - scores)) > 1e-3  # the metadata is used
    labels = classifier.labels_for(scores[0])
    assert labels and all(row["score"] >= 0.5 for row in labels)  # default threshold 0.5
    assert [row["score"] for row in labels] == sorted((row["score"] for row in labels), reverse=True)
    assert set(labels[0]) == {"id", "name", "tier_path", "score", "threshold"}
    assert all(row["threshold"] == 0.5 for row in labels)  # the class's own, here the default
    with pytest.raises(ValueError, match="frames"):
        classifier.predict(test["rgb"][:2, :, :10], counts[:2])


def test_calibrate_then_evaluate(trained, tmp_path):
    run = trained["nextvlad"]
    model_dir = run["result"].model_dir
    report = calibrate_model_dir(model_dir, trained["files"]["validate"], target_precision=0.9)
    document = artifacts.read_json(os.path.join(model_dir, artifacts.THRESHOLDS_FILE))
    assert document["calibrated"] and document["target_precision"] == 0.9
    enabled = [row for row in document["categories"] if row["enabled"]]
    assert len(enabled) == report["enabled"] >= 10
    assert all(row["precision"] >= 0.9 for row in enabled)
    assert {row["index"] for row in report["disabled"]} == \
        {row["index"] for row in document["categories"] if not row["enabled"]}
    classifier = load_classifier(model_dir)
    assert np.isfinite(classifier.thresholds).sum() == report["enabled"]

    result = evaluate_model_dir(model_dir, trained["files"]["test"], str(tmp_path / "eval"),
                                target_precision=0.8)
    assert result["gap_at_20"] >= 0.9
    assert result["coverage_at_precision"]["precision"] >= 0.8
    assert result["coverage_at_precision"]["coverage"] >= 0.8
    assert "per_class_thresholds" in result
    for name in ("metrics.json", "precision_coverage.csv", "precision_coverage.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 100
    header = (tmp_path / "eval" / "precision_coverage.csv").read_text().splitlines()[0]
    assert header == "threshold,precision,coverage,recall,labels_emitted"


def test_cli_evaluate_precomputed_predictions_and_describe(trained, tmp_path):
    run = trained["mean_pool"]
    np.save(tmp_path / "p.npy", run["scores"])
    np.save(tmp_path / "y.npy", run["labels"])
    runner = CliRunner()
    result = runner.invoke(model_cli, ["evaluate", "--predictions", str(tmp_path / "p.npy"),
                                       "--labels", str(tmp_path / "y.npy"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["gap_at_20"] == pytest.approx(metrics.gap(run["scores"], run["labels"]))
    assert (tmp_path / "out" / "precision_coverage.png").exists()

    bad = runner.invoke(model_cli, ["evaluate", "--predictions", str(tmp_path / "p.npy")])
    assert bad.exit_code != 0 and "--labels" in bad.output

    described = runner.invoke(model_cli, ["describe", "--config",
                                          builtin_config_path("synthetic-demo.yaml")])
    assert described.exit_code == 0, described.output
    info = json.loads(described.output)
    trainable = sum(w.numpy().size for w in trained["nextvlad"]["result"].model.trainable_weights)
    assert info["trainable_params"] == trainable
    assert {row["name"] for row in info["layers"]} >= {"video_vlad", "context_gating", "logistic"}
