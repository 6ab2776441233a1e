"""Mean-pooled logistic baseline: the reference point NeXtVLAD has to beat.

masked mean of the frames float32[B, N] (+ the metadata vector when enabled) -> logistic
(sigmoid) head with the same L2 as the NeXtVLAD head. Same inputs as `nextvlad.build_model`, so
the same data pipeline, training and evaluation code apply.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from model.classifier.config import ModelConfig
from model.classifier.config import METADATA, NUM_FRAMES, RGB
from model.classifier.nextvlad import model_inputs


@keras.saving.register_keras_serializable(package="video_iab")
class MaskedMean(layers.Layer):
    """[frames float32[B, T, N], num_frames int[B]] -> float32[B, N], mean over valid frames."""

    def call(self, inputs):
        frames, num_frames = inputs
        steps = ops.shape(frames)[1]
        count = ops.cast(num_frames, frames.dtype)
        mask = ops.cast(ops.arange(steps)[None, :] < ops.cast(num_frames, "int32")[:, None],
                        frames.dtype)
        return ops.sum(frames * mask[:, :, None], axis=1) / ops.maximum(count, 1.0)[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][2])


def build_mean_pool_model(config: ModelConfig, seed: int | None = None) -> keras.Model:
    """Logistic regression on mean-pooled frames; output float32[B, num_classes] probabilities."""
    inputs = model_inputs(config)
    pooled = MaskedMean(name="mean_pool")([inputs[RGB], inputs[NUM_FRAMES]])
    if METADATA in inputs:
        pooled = layers.Concatenate(name="with_metadata")([pooled, inputs[METADATA]])
    l2 = keras.regularizers.L2(config.train.l2_penalty / 2.0)
    probabilities = layers.Dense(config.num_classes, activation="sigmoid",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                                 kernel_regularizer=l2, bias_regularizer=l2, name="logistic")(pooled)
    return keras.Model(inputs=inputs, outputs=probabilities, name=f"{config.name}-mean-pool")
