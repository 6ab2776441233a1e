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
    PCA, as the labels file records them), {} when unknown. audio: float32[T, 128] (the
    feature file's audio list) or None."""

    video_id: str
    frames: np.ndarray
    num_frames: int
    metadata: dict
    metadata_source: str
    features: dict = dataclasses.field(default_factory=dict)
    audio: np.ndarray | None = None


class UnfitInput(ValueError):
    """A video's features do not fit the model (reason: a dead-letter reason code)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):  # it travels between steps inside a prediction
        return UnfitInput, (self.reason, str(self))


def check_input(item: VideoInput, config) -> None:
    """Raises UnfitInput when `item` cannot go into a model of `config` (ModelConfig): frame
    features of another size, or no audio list for a model that hears."""
    if item.frames.ndim != 2 or item.frames.shape[1] != config.rgb.feature_size:
        raise UnfitInput("feature-size-mismatch", f"frame features have shape "
                         f"{list(item.frames.shape)}; the model takes {config.rgb.feature_size} values")
    if config.audio is None:
        return
    if item.audio is None:
        raise UnfitInput("no-audio-features", "the model has an audio stream but the feature "
                         "file has no audio list (extract features with `audio:` set)")
    if item.audio.shape != (len(item.frames), config.audio.feature_size):
        raise UnfitInput("feature-size-mismatch", f"audio features have shape "
                         f"{list(item.audio.shape)}; the model takes {config.audio.feature_size} values")


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    """float32[B, max T, D] from float32[T_b, D] arrays, zero-padded."""
    out = np.zeros((len(arrays), max(len(a) for a in arrays), arrays[0].shape[1]), np.float32)
    for i, array in enumerate(arrays):
        out[i, :len(array)] = array
    return out


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
        """A video whose features do not fit the model gets {"error": UnfitInput} as its
        prediction (a dead letter downstream) instead of failing the batch it is in."""
        clf = model.classifier
        unfit = {}
        for i, (_, item) in enumerate(batch):
            try:
                check_input(item, clf.config)
            except UnfitInput as exc:
                unfit[i] = exc
        fit = [item for i, (_, item) in enumerate(batch) if i not in unfit]
        scores = iter(clf.predict(
            _stacked([i.frames for i in fit]), np.array([i.num_frames for i in fit]),
            [i.metadata or None for i in fit],
            audio=_stacked([i.audio for i in fit]) if clf.config.audio is not None else None)
            if fit else [])
        return [(key, item, {"error": unfit[i]} if i in unfit else self._prediction(model, next(scores)))
                for i, (key, item) in enumerate(batch)]

    def _prediction(self, model: LoadedModel, score: np.ndarray) -> dict:
        clf = model.classifier
        return {"labels": clf.labels_for(score), "top_k": clf.top_k(score, self.top_k),
                "model": model.provenance, "taxonomy": model.taxonomy}

    def warm_up_input(self) -> VideoInput:
        """A video of features with no width: run_inference answers it as unfit (UnfitInput)
        without calling the model (a streaming job's warm-up element,
        jobgraph.deadletter.StepChain.run_inference)."""
        return VideoInput("", np.zeros((0, 0), np.float32), 0, {}, "unknown")

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.max_batch_videos}

    def share_model_across_processes(self) -> bool:
        return False

    def get_metrics_namespace(self) -> str:
        return "video_iab_classifier"
