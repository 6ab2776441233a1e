"""The classifier's Beam RunInference handler: a model directory loaded once per process, videos
batched, each scored into labels (per-category thresholds) and its top-k."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Sequence

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from model.inference_base import ModelHandler  # Beam's, with its memory-use check mended

DEFAULT_TAXONOMY = "IAB Content Taxonomy 3.0"


@dataclasses.dataclass(frozen=True)
class VideoInput:
    """One video ready for the classifier. frames: float32[T, D]; metadata: upload metadata
    (model.features.codec.METADATA_KEYS); metadata_source: "payload" | "sidecar" | "unknown";
    features: where the frame features came from (the feature file's embedder, sampling and
    PCA, as the labels file records them), {} when unknown."""

    video_id: str
    frames: np.ndarray
    num_frames: int
    metadata: dict
    metadata_source: str
    features: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class LoadedModel:
    classifier: Any
    name: str
    version: str
    taxonomy: str

    @property
    def provenance(self) -> dict:
        """The labels' `model`: {name, version, backend}."""
        return {"name": self.name, "version": self.version,
                "backend": self.classifier.runtime.get("backend")}


def model_version(model_dir: str) -> str:
    """The labels' model version: the first 12 hex digits of the sha256 of the weights,
    thresholds and categories files' bytes, in that order (`cat model.weights.h5
    thresholds.json categories.json | sha256sum`), so a recalibration changes it too."""
    from model.classifier import artifacts

    digest = hashlib.sha256()  # what a label depends on besides the code and the config
    for name in (artifacts.WEIGHTS_FILE, artifacts.THRESHOLDS_FILE, artifacts.CATEGORIES_FILE):
        with FileSystems.open(artifacts.join(model_dir, name),
                              compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


class ClassifierHandler(ModelHandler[tuple[Any, VideoInput], tuple[Any, VideoInput, dict], LoadedModel]):
    """RunInference handler: (key, VideoInput) -> (key, VideoInput, prediction).

    prediction: {"labels": [{id, name, tier_path, score, threshold}] passing the shipped
    per-category thresholds, "top_k": [{id, name, score}], "model": {name, version
    (`model_version`), backend}, "taxonomy": str}; scores are the model's float32 values,
    unrounded. The key is opaque: it travels with the video.
    backend: "openvino" (converted once into `cache_dir`; no TensorFlow in the worker when the
    cache is warm) or "keras" (model/classifier/backends.py).
    """

    def __init__(self, model_dir: str, max_batch_videos: int = 32, top_k: int = 20,
                 backend: str = "openvino", cache_dir: str | None = None):
        super().__init__()
        self.model_dir = model_dir
        self.max_batch_videos = max_batch_videos
        self.top_k = top_k
        self.backend = backend
        self.cache_dir = cache_dir

    def load_model(self) -> LoadedModel:
        from model.classifier.serving import load_classifier

        classifier = load_classifier(self.model_dir, backend=self.backend, cache_dir=self.cache_dir)
        taxonomy = classifier.thresholds_info.get("taxonomy") or DEFAULT_TAXONOMY
        return LoadedModel(classifier, classifier.config.name, model_version(self.model_dir), str(taxonomy))

    def run_inference(self, batch: Sequence[tuple[Any, VideoInput]], model: LoadedModel,
                      inference_args=None):
        inputs = [item for _, item in batch]
        steps = max(item.frames.shape[0] for item in inputs)
        frames = np.zeros((len(inputs), steps, inputs[0].frames.shape[1]), dtype=np.float32)
        for i, item in enumerate(inputs):
            frames[i, : item.frames.shape[0]] = item.frames
        clf = model.classifier
        scores = clf.predict(frames, np.array([i.num_frames for i in inputs]),
                             [i.metadata or None for i in inputs])
        return [(key, item, {"labels": clf.labels_for(score), "top_k": clf.top_k(score, self.top_k),
                             "model": model.provenance,
                             "taxonomy": model.taxonomy})
                for (key, item), score in zip(batch, scores)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.max_batch_videos}

    def share_model_across_processes(self) -> bool:
        return False

    def get_metrics_namespace(self) -> str:
        return "video_iab_classifier"
