"""The classifier on OpenVINO, as workers serve it: the same scores as Keras (within float32
rounding), converted once per model content into a disk cache, and no TensorFlow or Keras in a
process whose cache is warm. Parity is checked on the shipped demo model and on a seeded
two-stream model with every input kind (audio, metadata with channel buckets)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from model.classifier import artifacts
from model.classifier.config import MetadataConfig, ModelConfig, StreamConfig, dump_config
from model.classifier.serving import load_classifier
from tests.graph.helpers import REPO

DEMO_MODEL = os.path.join(REPO, "demo", "model")
PARITY = 1e-5  # float32 rounding of a different operation order; the labels' need is 1e-3


def _inputs(config: ModelConfig, seed: int):
    """(frames, num_frames, metadata, audio) of 7 videos: empty, short, exactly max_frames,
    longer than max_frames (truncated), with and without metadata."""
    rng = np.random.default_rng(seed)
    steps = config.max_frames + 4
    frames = rng.normal(size=(7, steps, config.rgb.feature_size)).astype(np.float32)
    counts = [0, 1, 3, config.max_frames, steps, 5, 2]
    metadata = [{"category": "food", "language": "en", "duration": 30.0, "channel": "c7"},
                None, {"category": "unknown-thing"}, {}, {"duration": 600.0}, None, {"language": "fr"}]
    audio = None
    if config.audio is not None:
        audio = rng.normal(size=(7, steps, config.audio.feature_size)).astype(np.float32)
    return frames, counts, metadata, audio


def _assert_same_scores(model_dir: str, cache_dir: str, seed: int) -> None:
    keras_clf = load_classifier(model_dir, backend="keras")
    openvino_clf = load_classifier(model_dir, backend="openvino", cache_dir=cache_dir)
    frames, counts, metadata, audio = _inputs(keras_clf.config, seed)
    expected = keras_clf.predict(frames, counts, metadata, audio)
    got = openvino_clf.predict(frames, counts, metadata, audio)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=PARITY)
    for a, b in zip(got, expected):
        assert [x["id"] for x in openvino_clf.labels_for(a)] == [x["id"] for x in keras_clf.labels_for(b)]


def _seeded_model_dir(path: str, config: ModelConfig, seed: int) -> str:
    from model.classifier.nextvlad import build_model
    from model.classifier.train import save_model_files

    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, artifacts.CONFIG_FILE), "w") as fh:
        fh.write(dump_config(config))
    save_model_files(build_model(config, seed=seed), config, path)
    return path


TWO_STREAMS = ModelConfig(
    name="two-streams", num_classes=5, rgb=StreamConfig(16, 8, 4, 2), audio=StreamConfig(8, 4, 2, 2),
    max_frames=12, hidden_size=16, gating_reduction=4, categories=("533", "216", "425", "518", "275"),
    metadata=MetadataConfig(categories=("food", "music"), languages=("en",), duration=True,
                            channel_buckets=4))


def test_openvino_scores_match_keras_on_the_demo_model(tmp_path):
    _assert_same_scores(DEMO_MODEL, str(tmp_path / "cache"), seed=0)


def test_openvino_scores_match_keras_on_a_two_stream_model_with_metadata(tmp_path):
    model_dir = _seeded_model_dir(str(tmp_path / "model"), TWO_STREAMS, seed=4)
    _assert_same_scores(model_dir, str(tmp_path / "cache"), seed=1)


def test_conversion_is_cached_by_model_content(tmp_path):
    cache = str(tmp_path / "cache")
    model_dir = _seeded_model_dir(str(tmp_path / "model"), TWO_STREAMS, seed=4)
    os.makedirs(cache)
    os.mkdir(os.path.join(cache, ".tmp-classifier-two-streams-leftover"))  # a converter killed mid-write
    first = load_classifier(model_dir, backend="openvino", cache_dir=cache)
    again = load_classifier(model_dir, backend="openvino", cache_dir=cache)
    assert first.runtime == {"backend": "openvino", "cache_hit": False}
    assert again.runtime == {"backend": "openvino", "cache_hit": True}
    [entry] = [n for n in os.listdir(cache) if not n.startswith(".tmp-")]
    with open(os.path.join(cache, entry, "meta.json"), encoding="utf-8") as fh:
        assert json.load(fh)["model"] == "two-streams"

    # New weights (same config): a new entry, new scores; thresholds alone change nothing.
    frames, counts, metadata, audio = _inputs(TWO_STREAMS, 2)
    before = again.predict(frames, counts, metadata, audio)
    _seeded_model_dir(model_dir, TWO_STREAMS, seed=5)
    retrained = load_classifier(model_dir, backend="openvino", cache_dir=cache)
    assert retrained.runtime["cache_hit"] is False
    assert len([n for n in os.listdir(cache) if not n.startswith(".tmp-")]) == 2
    assert np.abs(retrained.predict(frames, counts, metadata, audio) - before).max() > 1e-3
    path = os.path.join(model_dir, artifacts.THRESHOLDS_FILE)  # a recalibration
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    for row in doc["categories"]:
        row["threshold"] = 0.25
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    assert load_classifier(model_dir, backend="openvino", cache_dir=cache).runtime["cache_hit"] is True


WARM_WORKER = """
import sys, numpy as np
from model.classifier.serving import load_classifier
clf = load_classifier(sys.argv[1], backend="openvino", cache_dir=sys.argv[2])
scores = clf.predict(np.ones((2, 3, 64), np.float32), [3, 1], [{"category": "food"}, None],
                     audio=np.ones((2, 3, 128), np.float32))
print(clf.runtime["cache_hit"], scores.shape,
      sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")))
"""


def test_a_process_with_a_warm_cache_imports_neither_tensorflow_nor_keras(tmp_path):
    cache = str(tmp_path / "cache")

    def worker() -> str:
        proc = subprocess.run([sys.executable, "-c", WARM_WORKER, DEMO_MODEL, cache], cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.strip().splitlines()[-1]

    assert worker().startswith("False (2, 8) ['keras")  # cold: converting needs Keras
    assert worker() == "True (2, 8) []"


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown classifier backend 'torch'.*openvino, keras"):
        load_classifier(DEMO_MODEL, backend="torch")


def test_klio_model_convert_fills_the_cache_the_job_reads(tmp_path):
    from click.testing import CliRunner

    from model.cli import model

    cache = str(tmp_path / "cache")
    args = ["convert", "--model-dir", DEMO_MODEL, "--cache-dir", cache]
    first = CliRunner().invoke(model, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"model_dir": DEMO_MODEL, "model": "demo-nextvlad", "cache_dir": cache,
                                        "backend": "openvino", "cache_hit": False}
    assert json.loads(CliRunner().invoke(model, args).output)["cache_hit"] is True
    assert load_classifier(DEMO_MODEL, backend="openvino", cache_dir=cache).runtime["cache_hit"] is True
    missing = CliRunner().invoke(model, ["convert", "--model-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "missing" in missing.output
