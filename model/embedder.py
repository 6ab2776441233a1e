"""Inception-v3 frame embedder (2048-d average-pool features) and its Beam RunInference handler.

Frames: uint8[N,299,299,3] RGB, resized whole by the decoder; scaled to [-1, 1] as x/127.5 - 1
(Keras' InceptionV3 preprocessing, the scaling its ImageNet weights were trained with; YT8M's
2015 graph used (x-128)/128, a shift of under 0.4% of the range).

Weights (`EmbedderConfig.weights`), never chosen silently:
- "imagenet": Keras' ImageNet weights (downloaded into KERAS_HOME on first use, needs internet);
- a path to a `.weights.h5` file (or a saved `.keras` model) holding these weights;
- "seeded": random weights from `seed`, with every BatchNorm's statistics re-estimated on
  calibration frames generated from the seed (a fresh net gives cosine 0.9999 between different
  images; after re-estimation, features separate images). For tests and benchmarks only.

RunInference element: `(key, uint8[T,299,299,3])` -> `(key, float32[T,2048])`; the key is opaque
(the video id, or a record carrying the id). A batch of videos is concatenated, run in
`batch_size`-frame sub-batches, and split back. BatchElements counts frames, not videos.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

NAME = "inception_v3"
DIM = 2048
INPUT_SIZE = 299
DEFAULT_BACKEND = "keras-fp32"

Frames = np.ndarray  # uint8[N,299,299,3] RGB
Features = np.ndarray  # float32[N,2048]


@dataclasses.dataclass(frozen=True)
class EmbedderConfig:
    """weights: "imagenet" | "seeded" | path; seed: required with "seeded".
    backend: "keras-fp32" (here) or a name `model.embed_backends.create_backend` knows.
    batch_size: frames per model call (fixed-size sub-batches; the last one may be smaller).
    batch_frames: frames per RunInference batch (BatchElements' size, counted in frames).
    calibration_frames: frames for seeded BatchNorm re-estimation and backend calibration.
    calibration_videos: videos whose frames calibrate int8 (a glob or directory, local or
      gs://; decoded at 1 fps, `calibration_frames` frames taken evenly over all of them); None
      calibrates on generated scenes, fine for the seeded weights but not for real ones.
    cache_dir: where backends may cache converted models (None: no cache).
    """

    weights: str = "imagenet"
    seed: int | None = None
    backend: str = DEFAULT_BACKEND
    batch_size: int = 32
    batch_frames: int = 256
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


@dataclasses.dataclass(frozen=True)
class EmbedderInfo:
    """What produced the features, for the feature file's context."""

    name: str
    version: str
    backend: str
    precision: str


def embedder_version(config: EmbedderConfig) -> str:
    """e.g. "keras-3.15.1;imagenet" or "keras-3.15.1;seeded:7"."""
    import importlib.metadata

    return f"keras-{importlib.metadata.version('keras')};{config.weights_id}"


def embedder_precision(config: EmbedderConfig) -> str:
    """"fp32" for keras-fp32, else the backend name's last part ("openvino-int8" -> "int8")."""
    return "fp32" if config.backend == DEFAULT_BACKEND else config.backend.rsplit("-", 1)[-1]


def preprocess(frames: Frames):
    """uint8[N,H,W,3] RGB -> float32 in [-1, 1] (x / 127.5 - 1), as a TF tensor."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / 127.5 - 1.0


def build_inception(config: EmbedderConfig):
    """The Keras InceptionV3 (include_top=False, pooling="avg") with the configured weights."""
    import keras

    if config.weights == "seeded":
        keras.utils.set_random_seed(config.seed)
        model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                               input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        recalibrate_batchnorm(model, calibration_frames(config.seed, config.calibration_frames))
        return model
    if config.weights == "imagenet":
        return keras.applications.InceptionV3(include_top=False, weights="imagenet", pooling="avg",
                                              input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
    path = config.weights
    if not os.path.exists(path):
        raise FileNotFoundError(f"embedder weights not found: {path}")
    if path.endswith(".keras"):
        model = keras.models.load_model(path, compile=False)
    else:
        model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                               input_shape=(INPUT_SIZE, INPUT_SIZE, 3))
        model.load_weights(path)
    if tuple(model.output_shape) != (None, DIM):
        raise ValueError(f"{path}: model outputs {model.output_shape}, expected (None, {DIM})")
    return model


def calibration_frames(seed: int, count: int) -> Frames:
    """uint8[count,299,299,3]: seeded category scenes (varied hues, stripes, shapes, textures)."""
    from transforms.synthetic_video import SceneRenderer

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        renderer = SceneRenderer(int(rng.integers(0, 1000)), INPUT_SIZE, INPUT_SIZE, rng)
        frames.append(renderer.frame(float(rng.uniform(0, 30))))
    return np.stack(frames)


def frames_from_videos(pattern: str, count: int) -> Frames:
    """uint8[count,299,299,3]: `count` frames taken evenly over the 1-fps samples of every video
    matching `pattern` (a glob, or a directory meaning every file in it; local or gs://), in
    path order. Videos that fail to decode are skipped; raises ValueError when no frame is left."""
    from apache_beam.io.filesystems import FileSystems

    from transforms.decode import DecodeConfig, VideoRejected, decode_video

    if not any(ch in pattern for ch in "*?["):
        pattern = FileSystems.join(pattern, "*")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    decoded = []
    for path in paths:
        try:
            decoded.append(decode_video(path, DecodeConfig(size=INPUT_SIZE)).frames)
        except VideoRejected:
            continue
    pool = np.concatenate(decoded) if decoded else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    if len(pool) == 0:
        raise ValueError(f"no decodable video frames for calibration in {pattern} ({len(paths)} files)")
    return pool[np.linspace(0, len(pool) - 1, count).round().astype(int)]


def recalibrate_batchnorm(model, frames: Frames) -> None:
    """Set every BatchNormalization's moving mean/variance to the statistics of its input on
    `frames` (one training-mode pass with momentum 0; trainable weights are untouched)."""
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        raise ValueError("model has no BatchNormalization layers to recalibrate")
    saved = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(preprocess(frames), training=True)
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum


def keras_fp32_backend(model, batch_size: int) -> Callable[[Frames], Features]:
    """uint8[N,299,299,3] -> float32[N,2048] with the Keras model in float32, graph-compiled."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.uint8)],
                 reduce_retracing=True)
    def run(frames):
        return model(preprocess(frames), training=False)

    def embed(frames: Frames) -> Features:
        if len(frames) == 0:
            return np.zeros((0, DIM), np.float32)
        out = [run(frames[i:i + batch_size]).numpy() for i in range(0, len(frames), batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False)

    return embed


def weights_source_key(config: EmbedderConfig) -> str | None:
    """A string naming the configured weights exactly without building the model, or None.

    seeded: the seed and BatchNorm calibration size (the backends' cache key adds the Keras and
    TensorFlow versions, which fix the initialisers); a file: its sha256; imagenet: the sha256
    of Keras' downloaded weights file when it is already there.
    """
    if config.weights == "seeded":
        return f"seeded:{config.seed}:bn-frames:{config.calibration_frames}"
    path = config.weights
    if config.weights == "imagenet":
        keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
        path = os.path.join(keras_home, "models", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


class Embedder:
    """A loaded embedder: `embed(uint8[N,299,299,3]) -> float32[N,2048]` plus its `info`.

    `model` is the Keras model, built on first access: an OpenVINO backend whose converted
    model is already in `config.cache_dir` never builds it (a worker then starts in seconds and
    holds no TensorFlow graph).
    """

    def __init__(self, config: EmbedderConfig):
        self.config = config
        self._model = None
        if config.backend == DEFAULT_BACKEND:
            self._embed = keras_fp32_backend(self.model, config.batch_size)
            precision = embedder_precision(config)
        else:
            from model import embed_backends  # written separately; imported only when asked for

            calib = None  # only int8 calibrates; the other backends ignore the frames
            if embedder_precision(config) == "int8":
                calib = (frames_from_videos(config.calibration_videos, config.calibration_frames)
                         if config.calibration_videos else
                         calibration_frames(config.seed if config.seed is not None else 0, config.calibration_frames))
            self._embed = embed_backends.create_backend(config.backend, lambda: self.model,
                                                        config.cache_dir, calib,
                                                        source_key=weights_source_key(config))
            precision = getattr(self._embed, "precision", embedder_precision(config))
        self.info = EmbedderInfo(name=NAME, version=embedder_version(config),
                                 backend=config.backend, precision=str(precision))

    @property
    def cache_hit(self) -> bool:
        """True when the backend's converted model came from config.cache_dir."""
        return bool(getattr(self._embed, "cache_hit", False))

    @property
    def model(self):
        if self._model is None:
            self._model = build_inception(self.config)
        return self._model

    def embed(self, frames: Frames) -> Features:
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"frames must be uint8[N,{INPUT_SIZE},{INPUT_SIZE},3], "
                             f"got {frames.dtype}{list(frames.shape)}")
        features = np.asarray(self._embed(frames), dtype=np.float32)
        if features.shape != (len(frames), DIM):
            raise ValueError(f"backend {self.config.backend!r} returned {features.shape}, "
                             f"expected ({len(frames)}, {DIM})")
        return features


_LOADED: dict[EmbedderConfig, Embedder] = {}
_LOAD_LOCK = threading.Lock()


def get_embedder(config: EmbedderConfig) -> Embedder:
    """The process-wide Embedder for `config`, built on first use (the CLI, tests and every
    RunInference instance in this process share it)."""
    with _LOAD_LOCK:
        if config not in _LOADED:
            _LOADED[config] = Embedder(config)
        return _LOADED[config]


def _frames_of(element: tuple[Any, Frames]) -> int:
    return max(1, len(element[1]))


class InceptionEmbedderHandler(ModelHandler[tuple[Any, Frames], tuple[Any, Features], Embedder]):
    """RunInference handler: (key, uint8[T,299,299,3]) -> (key, float32[T,2048]).

    The model loads once per process (RunInference shares it); batches hold up to
    `config.batch_frames` frames from any number of videos (one video larger than that forms
    a batch on its own).
    """

    def __init__(self, config: EmbedderConfig):
        super().__init__(min_batch_size=config.batch_frames, max_batch_size=config.batch_frames,
                         element_size_fn=_frames_of)
        self.config = config

    def load_model(self) -> Embedder:
        return get_embedder(self.config)

    def run_inference(self, batch: Sequence[tuple[Any, Frames]], model: Embedder,
                      inference_args: dict[str, Any] | None = None
                      ) -> Iterable[tuple[Any, Features]]:
        lengths = [len(frames) for _, frames in batch]
        stacked = [frames for _, frames in batch if len(frames)]
        if not stacked:
            return [(key, np.zeros((0, DIM), np.float32)) for key, _ in batch]
        features = model.embed(np.concatenate(stacked) if len(stacked) > 1 else stacked[0])
        splits = np.cumsum(lengths)[:-1]
        return list(zip((key for key, _ in batch), np.split(features, splits)))

    def get_num_bytes(self, batch: Sequence[tuple[Any, Frames]]) -> int:
        return sum(frames.nbytes for _, frames in batch)

    def get_metrics_namespace(self) -> str:
        return "video_features_embedder"
