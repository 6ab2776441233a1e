"""Serving API of a trained classifier, for the classify job (and evaluate / calibrate).

    clf = load_classifier("gs://bucket/models/iab-v3")      # or a local directory
    scores = clf.predict(frames, num_frames, metadata)        # float32[B, C]
    clf.labels_for(scores[0])                     # [{id, name, tier_path, score, threshold}]

Load once per process (e.g. in a RunInference ModelHandler's load_model); `predict` is
thread-safe and batched. The runtime is Keras (default: training, evaluation, calibration) or
OpenVINO (`backend="openvino"`: the workers', no TensorFlow once converted; model/classifier/backends.py).
"""
from __future__ import annotations

import os
import shutil
from typing import Any, Mapping, Sequence

import numpy as np

from model.classifier import artifacts
from model.classifier.backends import Forward, create_forward
from model.classifier.config import AUDIO, METADATA, NUM_FRAMES, RGB, ModelConfig, load_config
from model.classifier.metadata import MetadataEncoder
from model.taxonomy import Category


class Classifier:
    """A loaded model directory.

    config: ModelConfig; categories: list[Category] in output order;
    thresholds: float64[C] per-class thresholds, +inf where the class is disabled;
    thresholds_info: the thresholds.json document (calibration target, precision, ...);
    forward: model inputs -> float32[B, C] (model/classifier/backends.py); runtime: {"backend",
    "cache_hit"}.
    """

    def __init__(self, config: ModelConfig, forward: Forward, categories: list[Category],
                 thresholds: np.ndarray, thresholds_info: dict | None = None,
                 batch_size: int = 64, runtime: dict | None = None):
        if len(categories) != config.num_classes or len(thresholds) != config.num_classes:
            raise ValueError(f"{len(categories)} categories / {len(thresholds)} thresholds for "
                             f"{config.num_classes} classes")
        self.config = config
        self.runtime = runtime or {}
        self.categories = categories
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.thresholds_info = thresholds_info or {}
        self.batch_size = batch_size
        self._encoder = MetadataEncoder(config.metadata) if config.metadata_enabled else None
        self._forward = forward

    def _frames(self, frames: np.ndarray, dim: int, name: str) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 3 or frames.shape[2] != dim:
            raise ValueError(f"{name}: expected float32[B, T, {dim}], got shape {frames.shape}")
        steps = self.config.max_frames
        frames = frames[:, :steps]
        if frames.shape[1] < steps:
            frames = np.pad(frames, ((0, 0), (0, steps - frames.shape[1]), (0, 0)))
        return frames

    def predict(self, frames: np.ndarray, num_frames: Sequence[int] | np.ndarray,
                metadata: Sequence[Mapping[str, Any] | None] | None = None,
                audio: np.ndarray | None = None) -> np.ndarray:
        """Scores float32[B, C] (sigmoid probabilities) in inference mode.

        frames: float32[B, T, N] dequantised frame features (data.parse_example's `rgb`); only
            the first num_frames[b] (and at most config.max_frames) rows of each are used.
        num_frames: int[B]. metadata: one dict per video (model/classifier/metadata.py keys) or None;
            ignored when the model has no metadata branch. audio: float32[B, T, 128], required
            when the model has an audio stream.
        """
        frames = self._frames(frames, self.config.rgb.feature_size, "frames")
        batch = frames.shape[0]
        counts = np.asarray(num_frames, dtype=np.int64).reshape(-1)
        if counts.shape[0] != batch:
            raise ValueError(f"num_frames has {counts.shape[0]} entries for {batch} videos")
        if np.any(counts < 0):
            raise ValueError("num_frames must be >= 0")
        inputs = {RGB: frames, NUM_FRAMES: np.minimum(counts, self.config.max_frames).astype(np.int32)}
        if self.config.audio is not None:
            if audio is None:
                raise ValueError("this model has an audio stream: pass audio float32[B, T, 128]")
            inputs[AUDIO] = self._frames(audio, self.config.audio.feature_size, "audio")
        if self._encoder is not None:
            inputs[METADATA] = self._encoder.encode_batch(metadata, batch)
        return self.predict_inputs(inputs)

    def predict_inputs(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Scores float32[B, C] for model-ready inputs (the batches of data.make_dataset:
        rgb float32[B, max_frames, N], num_frames int32[B], audio / metadata when configured)."""
        inputs = {k: np.asarray(inputs[k]) for k in self.config.input_names}
        batch = len(inputs[NUM_FRAMES])
        out = []
        for start in range(0, batch, self.batch_size):
            out.append(self._forward({k: v[start:start + self.batch_size] for k, v in inputs.items()}))
        if not out:
            return np.zeros((0, self.config.num_classes), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)

    def labels_for(self, scores: np.ndarray) -> list[dict]:
        """Labels passing their class threshold, best first: [{id, name, tier_path, score,
        threshold}] (threshold: the class's own, which the score met).

        scores: float32[C] for one video.
        """
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != self.config.num_classes:
            raise ValueError(f"scores: expected {self.config.num_classes} values, got {scores.shape[0]}")
        passing = np.flatnonzero(scores >= self.thresholds)
        passing = passing[np.argsort(-scores[passing], kind="stable")]
        return [{"id": self.categories[i].id, "name": self.categories[i].name,
                 "tier_path": list(self.categories[i].tier_path), "score": float(scores[i]),
                 "threshold": float(self.thresholds[i])}
                for i in passing]

    def top_k(self, scores: np.ndarray, k: int = 20) -> list[dict]:
        """The k highest raw scores of one video, thresholds ignored: [{id, name, score}]."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        order = np.argsort(-scores, kind="stable")[:k]
        return [{"id": self.categories[i].id, "name": self.categories[i].name,
                 "score": float(scores[i])} for i in order]


def load_classifier(model_dir: str, batch_size: int = 64, backend: str = "keras",
                    cache_dir: str | None = None) -> Classifier:
    """Load a model directory (local path or gs://; see model/classifier/artifacts.py) on
    `backend` ("keras" | "openvino"; cache_dir: the OpenVINO conversion cache, None: the
    default one)."""
    local, tmp = artifacts.localize(model_dir)
    try:
        config = load_config(os.path.join(local, artifacts.CONFIG_FILE))
        forward, runtime = create_forward(backend, config, local, cache_dir)
        categories = artifacts.parse_categories(
            artifacts.read_json(os.path.join(local, artifacts.CATEGORIES_FILE)),
            f"{model_dir}/{artifacts.CATEGORIES_FILE}")
        if len(categories) != config.num_classes:
            raise ValueError(f"{model_dir}/{artifacts.CATEGORIES_FILE}: {len(categories)} entries for "
                             f"{config.num_classes} classes")
        info = artifacts.read_json(os.path.join(local, artifacts.THRESHOLDS_FILE))
        thresholds = artifacts.parse_thresholds(info, config.num_classes,
                                                f"{model_dir}/{artifacts.THRESHOLDS_FILE}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return Classifier(config, forward, categories, thresholds, info, batch_size=batch_size, runtime=runtime)
