"""Keras/TensorFlow embedding backends: the fp32 reference and a mixed_bfloat16 clone.

Used through `model.embedding.backends.create_backend("keras-fp32" | "keras-bf16", ...)`.
"""
from __future__ import annotations

import logging
import os
from typing import Callable

import numpy as np

from model.embedding.constants import FRAME_SHAPE
from model.embedding.inception import preprocess

log = logging.getLogger(__name__)


def _set_threads(threads: int | None) -> int:
    """Ask TensorFlow for `threads` intra-op threads (None: leave as is); returns the count in force.

    TensorFlow fixes its thread pools when its runtime starts; after that the setting is refused
    and the process keeps what it has (0 means TensorFlow's default: all cores).
    """
    import tensorflow as tf

    if threads is None:
        return tf.config.threading.get_intra_op_parallelism_threads() or (os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1 if threads == 1 else 2)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            log.warning("TensorFlow already started with %s intra-op threads; %s requested. Set "
                        "VIDEO_IAB_EMBED_THREADS before TensorFlow starts to change it.", current or "all", threads)
        return current or (os.cpu_count() or 1)  # 0: TensorFlow's default, every core
    return threads


def _mixed_bfloat16_clone(keras_model):
    """The same network under the mixed_bfloat16 policy (bf16 compute, fp32 variables and BN)."""
    import keras

    def clone_layer(layer):
        config = layer.get_config()
        config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(keras_model, clone_function=clone_layer)
    clone.set_weights(keras_model.get_weights())
    return clone


def build(precision: str, keras_model, threads: int | None) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Returns (run_batch: uint8[N,299,299,3] -> float32[N,2048], threads in force).

    threads: intra-op threads to ask TensorFlow for; None keeps TensorFlow's setting.
    """
    import tensorflow as tf

    threads_in_force = _set_threads(threads)
    model = keras_model if precision == "fp32" else _mixed_bfloat16_clone(keras_model)

    @tf.function(input_signature=[tf.TensorSpec([None, *FRAME_SHAPE], tf.uint8)], reduce_retracing=True)
    def embed(frames):
        return tf.cast(model(preprocess(frames), training=False), tf.float32)

    def run_batch(frames: np.ndarray) -> np.ndarray:
        return embed(frames).numpy()

    return run_batch, threads_in_force
