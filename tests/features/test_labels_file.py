"""The labels file a reader gets (schema 2): schema_version, a model version that covers the
weights, thresholds and categories, each label's own threshold, the features' provenance (a
seeded embedder marked as a demo's), scores at 4 decimal places after thresholding. The demo
model scores a generated feature file through the job's own steps."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from jobgraph.message import new_message
from jobgraph.task import Task
from model.classifier.handler import ClassifierHandler, VideoInput, model_version
from model.features.codec import FeatureRecord
from tests.graph.helpers import REPO
from transforms.classify import (LABELS_SCHEMA_VERSION, ClassifyConfig, ReadFeatures, WriteLabels,
                                 event_payload, labels_document)
from transforms.features_io import write_features

DEMO_MODEL = f"{REPO}/demo/model"
VERSIONED = ("model.weights.h5", "thresholds.json", "categories.json")


def _model_copy(tmp_path) -> str:
    path = str(tmp_path / "model")
    shutil.copytree(DEMO_MODEL, path)
    return path


def _feature_file(directory, video_id: str, embedder_version: str) -> None:
    """Six frames of random uint8 features, rgb and audio (the demo model hears); the audio
    embedder is seeded when the frame embedder is."""
    rng = np.random.default_rng(7)
    audio_version = "keras-3.15.1;seeded:0" if "seeded" in embedder_version else "keras-3.15.1;file:vggish.weights.h5"
    write_features(f"{directory}/{video_id}.tfrecord", FeatureRecord(
        video_id=video_id, rgb=rng.integers(0, 256, (6, 64), dtype=np.uint8),
        timestamps_s=tuple(float(t) for t in range(6)), duration_s=6.0, embedder_name="inception_v3",
        embedder_version=embedder_version, embedder_backend="keras-fp32", embedder_precision="fp32",
        sampling="head;fps=1;max_frames=300;size=299", pca="pca.npz",
        audio=rng.integers(0, 256, (6, 128), dtype=np.uint8),
        audio_context={"audio_source": "stream", "audio_embedder_name": "vggish",
                       "audio_embedder_version": audio_version, "audio_embedder_backend": "openvino-int8"}))


def _label(tmp_path, model_dir: str, embedder_version: str = "keras-3.15.1;seeded:0") -> tuple[dict, dict]:
    """(labels file, event payload) of one generated video through ReadFeatures, the
    classifier handler and WriteLabels, with every threshold at 0 (every category passes)."""
    _feature_file(tmp_path / "features", "v1", embedder_version)
    task = Task("v1", str(tmp_path / "features" / "v1.tfrecord"), str(tmp_path / "labels" / "v1.json"),
                new_message("v1", top_down=True))
    config = ClassifyConfig(job_name="video-iab", model_dir=model_dir, top_k=3)
    [(task, video)] = list(ReadFeatures(config).process(task))
    handler = ClassifierHandler(model_dir, top_k=3)
    [(_, video, prediction)] = handler.run_inference([(task, video)], handler.load_model())
    [done] = list(WriteLabels(config).process((task, video, prediction)))
    with open(task.output_path, encoding="utf-8") as fh:
        return json.load(fh), json.loads(done.message.data.payload)


def _set_thresholds(model_dir: str, values) -> None:
    """thresholds.json with these per-category values (a number: the same for all)."""
    path = f"{model_dir}/thresholds.json"
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    for row, value in zip(doc["categories"], np.broadcast_to(values, len(doc["categories"]))):
        row["threshold"], row["enabled"] = float(value), True
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)


def test_model_version_is_the_hash_of_weights_thresholds_and_categories(tmp_path):
    model_dir = _model_copy(tmp_path)
    digest = hashlib.sha256(b"".join(open(f"{model_dir}/{n}", "rb").read() for n in VERSIONED))
    before = model_version(model_dir)
    assert before == digest.hexdigest()[:12]
    _set_thresholds(model_dir, 0.25)  # a recalibration: same weights, new thresholds
    assert model_version(model_dir) != before
    shutil.copy(f"{DEMO_MODEL}/thresholds.json", f"{model_dir}/thresholds.json")
    assert model_version(model_dir) == before


def test_labels_file_schema_2_through_the_job_steps(tmp_path):
    model_dir = _model_copy(tmp_path)
    _set_thresholds(model_dir, 0.0)
    doc, payload = _label(tmp_path, model_dir)

    assert doc["schema_version"] == LABELS_SCHEMA_VERSION == 2
    assert doc["model"] == {"name": "demo-nextvlad", "version": model_version(model_dir), "backend": "openvino"}
    assert doc["features"] == {
        "embedder": {"name": "inception_v3", "version": "keras-3.15.1;seeded:0", "backend": "keras-fp32",
                     "precision": "fp32", "seeded_weights": True},
        "sampling": "head;fps=1;max_frames=300;size=299", "pca": "pca.npz",
        "audio": {"embedder": {"name": "vggish", "version": "keras-3.15.1;seeded:0",
                               "backend": "openvino-int8"}, "source": "stream"},
        "note": "features from seeded (random) embedder weights: a demo's; these labels say "
                "nothing about real videos"}
    assert len(doc["labels"]) == 8  # threshold 0: every category passes
    for label in doc["labels"]:
        assert label["threshold"] == 0.0 and label["source"] == "visual"
        assert label["score"] == round(label["score"], 4)
    assert [x["score"] for x in doc["labels"]] == sorted((x["score"] for x in doc["labels"]), reverse=True)
    assert len(doc["top_k"]) == 3 and all(x["score"] == round(x["score"], 4) for x in doc["top_k"])
    # the event keeps its shape: labels in brief, where the file is, the model
    assert set(payload) == {"labels", "labels_path", "model"}
    assert payload["model"] == doc["model"]
    assert payload["labels"] == [{k: x[k] for k in ("id", "name", "score", "source")} for x in doc["labels"]]


def test_labels_carry_the_threshold_they_passed_and_real_weights_are_not_marked(tmp_path):
    model_dir = _model_copy(tmp_path)
    # even categories pass (each at its own tiny threshold), odd ones never (scores are <= 1)
    thresholds = [0.00012 * (i + 1) if i % 2 == 0 else 1.5 for i in range(8)]
    _set_thresholds(model_dir, thresholds)
    with open(f"{model_dir}/categories.json", encoding="utf-8") as fh:
        ids = [row["id"] for row in json.load(fh)]
    doc, _ = _label(tmp_path, model_dir, embedder_version="keras-3.15.1;imagenet")
    assert doc["features"]["embedder"]["seeded_weights"] is False and "note" not in doc["features"]
    assert sorted(x["id"] for x in doc["labels"]) == sorted(ids[0::2])
    for label in doc["labels"]:
        assert label["threshold"] == round(thresholds[ids.index(label["id"])], 4)
        assert label["score"] >= label["threshold"]


def _video(**features) -> VideoInput:
    return VideoInput("v1", np.zeros((1, 8), np.float32), 1, {}, "unknown", features)


def test_rounding_comes_after_thresholding_and_keeps_the_labels():
    labels = [{"id": "1", "name": "a", "tier_path": ["a"], "score": 0.500049, "threshold": 0.50004,
               "source": "visual"},
              {"id": "2", "name": "b", "tier_path": ["b"], "score": 0.87654321, "threshold": 0.123456789,
               "source": "visual+textual", "textual_score": 0.333333333},
              {"id": "3", "name": "c", "tier_path": None, "score": None, "source": "textual"}]
    prediction = {"model": {"name": "m", "version": "v"}, "taxonomy": "t",
                  "top_k": [{"id": "2", "name": "b", "score": np.float32(0.87654321)}]}
    doc = labels_document(_video(), prediction, labels)
    assert [x["id"] for x in doc["labels"]] == ["1", "2", "3"]  # the same labels, same order
    assert [(x["score"], x.get("threshold")) for x in doc["labels"]] == [
        (0.5, 0.5), (0.8765, 0.1235), (None, None)]
    assert doc["labels"][1]["textual_score"] == 0.3333
    assert doc["top_k"] == [{"id": "2", "name": "b", "score": 0.8765}]
    assert json.loads(event_payload(doc, "p"))["labels"][0]["score"] == 0.5
    assert labels[0]["score"] == 0.500049  # the caller's labels are not changed


@pytest.mark.parametrize("version,seeded", [("keras-3.15.1;seeded:7", True), ("keras-3.15.1;imagenet", False),
                                            ("openvino;/weights/seeded.h5", False)])
def test_seeded_mark_follows_the_embedder_version(version, seeded):
    from transforms.classify import feature_provenance

    features = feature_provenance({"embedder_version": version})
    assert features["embedder"]["seeded_weights"] is seeded
    assert ("note" in features) is seeded
    doc = labels_document(_video(), {"model": {}, "taxonomy": "t", "top_k": []}, [])
    assert doc["features"]["embedder"]["version"] is None  # unknown provenance is said, not guessed


def test_seeded_audio_weights_are_marked_too():
    from transforms.classify import feature_provenance

    features = feature_provenance({"embedder_version": "keras-3.15.1;imagenet", "audio_embedder_name": "vggish",
                                   "audio_embedder_version": "keras-3.15.1;seeded:0", "audio_source": "none"})
    assert features["embedder"]["seeded_weights"] is False and "note" in features
    assert features["audio"] == {"embedder": {"name": "vggish", "version": "keras-3.15.1;seeded:0",
                                              "backend": None}, "source": "none"}
    assert "audio" not in feature_provenance({"embedder_version": "keras-3.15.1;imagenet"})
