"""EmbedderConfig: which weights, which backend, how frames are batched; and what it records."""
from __future__ import annotations

import dataclasses
import importlib.metadata
import os

from model.embedding.constants import NAME

DEFAULT_BACKEND = "keras-fp32"


@dataclasses.dataclass(frozen=True)
class EmbedderConfig:
    """weights: "imagenet" | "seeded" | path; seed: required with "seeded".
    backend: "keras-fp32" (the reference) or another name of `model.embedding.backends.BACKENDS`.
    batch_size: frames per model call (fixed-size sub-batches; the last one may be smaller).
      8: as fast as 32 with one thread per worker (how workers run) on openvino-int8 and
      keras-fp32, same outputs, and a quarter of the model's working memory (about 90 MiB
      less for Inception-v3); Keras with TensorFlow's threads on both cores is 11% slower at 8.
    batch_frames: frames per RunInference batch (BatchElements' size, counted in frames): 64,
      about one 60-s video, so a worker holds one video's frames, not four.
    calibration_frames: frames for seeded BatchNorm re-estimation and int8 calibration.
    calibration_videos: videos whose frames calibrate int8 (a glob or directory, local or
      gs://; decoded at 1 fps, `calibration_frames` frames taken evenly over all of them); None
      calibrates on generated scenes, fine for the seeded weights but not for real ones.
    cache_dir: where OpenVINO backends cache converted models (None: the default cache,
      model.openvino_cache.cache_dir_or_default(), shared with the audio embedder and classifier).
    """

    weights: str = "imagenet"
    seed: int | None = None
    backend: str = DEFAULT_BACKEND
    batch_size: int = 8
    batch_frames: int = 64
    calibration_frames: int = 32
    calibration_videos: str | None = None
    cache_dir: str | None = None

    def __post_init__(self):
        if self.weights == "seeded" and self.seed is None:
            raise ValueError('EmbedderConfig: weights="seeded" needs an explicit seed')
        if self.weights != "seeded" and self.seed is not None:
            raise ValueError('EmbedderConfig: seed is only valid with weights="seeded"')
        if self.weights not in ("imagenet", "seeded") and not self.weights:
            raise ValueError("EmbedderConfig.weights must be imagenet, seeded or a path")
        if self.batch_size < 1 or self.batch_frames < 1:
            raise ValueError("EmbedderConfig: batch_size and batch_frames must be >= 1")

    @property
    def weights_id(self) -> str:
        if self.weights == "seeded":
            return f"seeded:{self.seed}"
        if self.weights == "imagenet":
            return "imagenet"
        return f"file:{os.path.basename(self.weights)}"

    @property
    def precision(self) -> str:
        """"fp32" for keras-fp32, else the backend name's last part ("openvino-int8" -> "int8")."""
        return "fp32" if self.backend == DEFAULT_BACKEND else self.backend.rsplit("-", 1)[-1]

    @property
    def version(self) -> str:
        """e.g. "keras-3.15.1;imagenet" or "keras-3.15.1;seeded:7": what the feature files record."""
        return weights_version(self.weights_id)


def weights_version(weights_id: str) -> str:
    return f"keras-{importlib.metadata.version('keras')};{weights_id}"


@dataclasses.dataclass(frozen=True)
class EmbedderInfo:
    """What produced the features, for the feature file's context."""

    version: str
    backend: str
    precision: str
    name: str = NAME
