"""The Keras Inception-v3 network behind every backend: its weights, its input scaling.

Frames: uint8[N,299,299,3] RGB, resized whole by the decoder; scaled to [-1, 1] as x/127.5 - 1
(Keras' InceptionV3 preprocessing, the scaling its ImageNet weights were trained with; YT8M's
2015 graph used (x-128)/128, a shift of under 0.4% of the range).

Weights (`EmbedderConfig.weights`), never chosen silently:
- "imagenet": Keras' ImageNet weights (downloaded into KERAS_HOME on first use, needs internet);
- a path to a `.weights.h5` file (or a saved `.keras` model) holding these weights;
- "seeded": random weights from `seed`, with every BatchNorm's statistics re-estimated on
  calibration frames the caller provides (a fresh net gives cosine 0.9999 between different
  images; after re-estimation, features separate images). For tests and benchmarks only.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Callable

from model.embedding.config import EmbedderConfig
from model.embedding.constants import DIM, FRAME_SHAPE, Frames

IMAGENET_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def preprocess(frames):
    """uint8[N,H,W,3] RGB (numpy or TF tensor) -> float32 TF tensor in [-1, 1]: x / 127.5 - 1."""
    import tensorflow as tf

    return tf.cast(frames, tf.float32) / 127.5 - 1.0


def _architecture(weights: str | None):
    import keras

    return keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                          input_shape=FRAME_SHAPE)


def build_inception(config: EmbedderConfig, batchnorm_frames: Frames | None = None):
    """The Keras InceptionV3 (include_top=False, pooling="avg") with the configured weights.

    batchnorm_frames: uint8[M,299,299,3], required for "seeded" weights (their BatchNorm
    statistics are re-estimated on them); ignored otherwise.
    """
    import keras

    if config.weights == "seeded":
        if batchnorm_frames is None:
            raise ValueError('seeded weights need batchnorm_frames to re-estimate BatchNorm statistics')
        keras.utils.set_random_seed(config.seed)
        model = _architecture(None)
        recalibrate_batchnorm(model, batchnorm_frames)
        return model
    if config.weights == "imagenet":
        return _architecture("imagenet")
    path = config.weights
    if not os.path.exists(path):
        raise FileNotFoundError(f"embedder weights not found: {path}")
    if path.endswith(".keras"):
        model = keras.models.load_model(path, compile=False)
    else:
        model = _architecture(None)
        model.load_weights(path)
    if tuple(model.output_shape) != (None, DIM):
        raise ValueError(f"{path}: model outputs {model.output_shape}, expected (None, {DIM})")
    return model


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
        path = os.path.join(keras_home, "models", IMAGENET_FILE)
    if not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


ModelSource = Any  # a Keras model, or a zero-argument callable that builds it


def materialise(source: ModelSource):
    """The Keras model itself, or the result of calling a zero-argument builder for it."""
    return source() if callable(source) and not hasattr(source, "layers") else source


def lazy(source: ModelSource) -> Callable[[], Any]:
    """A zero-argument callable returning the model, built at most once and only when called."""
    import functools

    return functools.cache(lambda: materialise(source))
