"""The VGGish network in Keras, its weights, and how its weights are named for caches.

Input float32[N,96,64,1] log-mel examples -> output float32[N,128] embeddings (fc2's
pre-activation values: VGGish's embedding layer has no ReLU). Layers, named as in the published
TF1 checkpoint (scope `vggish/`):
  conv1 64, pool1, conv2 128, pool2, conv3_1 256, conv3_2 256, pool3, conv4_1 512, conv4_2 512,
  pool4, flatten (6 x 4 x 512 = 12288), fc1_1 4096, fc1_2 4096, fc2 128.
Convolutions are 3x3, stride 1, SAME, ReLU; max-pools 2x2, stride 2, SAME.

Weights (`AudioEmbedderConfig.weights`), never chosen silently:
- "seeded": random from `seed` (He-normal kernels, zero biases: the published initialiser's
  N(0, 0.01) would leave a deep ReLU stack's outputs vanishingly small). Tests and benchmarks;
- a path to a `.weights.h5` file in this layout (`klio model convert-vggish` makes one from the
  published checkpoint).
"""
from __future__ import annotations

import hashlib
import os

from model.audio.config import AudioEmbedderConfig
from model.audio.constants import DIM, EXAMPLE_FRAMES, MEL_BANDS

INPUT_SHAPE = (EXAMPLE_FRAMES, MEL_BANDS, 1)
CONV_LAYERS = (("conv1", 64), ("conv2", 128), ("conv3_1", 256), ("conv3_2", 256),
               ("conv4_1", 512), ("conv4_2", 512))
POOL_AFTER = {"conv1": "pool1", "conv2": "pool2", "conv3_2": "pool3", "conv4_2": "pool4"}
DENSE_LAYERS = (("fc1_1", 4096, "relu"), ("fc1_2", 4096, "relu"), ("fc2", DIM, None))
LAYER_NAMES = tuple(name for name, _ in CONV_LAYERS) + tuple(name for name, _, _ in DENSE_LAYERS)


def vggish_architecture(seed: int | None = None):
    """The uninitialised-by-file network: kernels He-normal from `seed` (None: unseeded), biases 0."""
    import keras
    from keras import layers

    def init(index: int):  # one seed per layer, so each layer's draw does not depend on the others
        return keras.initializers.HeNormal(seed=None if seed is None else seed * 1000 + index)

    inputs = keras.Input(INPUT_SHAPE, name="log_mel")
    net = inputs
    for index, (name, filters) in enumerate(CONV_LAYERS):
        net = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name,
                            kernel_initializer=init(index))(net)
        if name in POOL_AFTER:
            net = layers.MaxPooling2D(2, strides=2, padding="same", name=POOL_AFTER[name])(net)
    net = layers.Flatten(name="flatten")(net)
    for index, (name, units, activation) in enumerate(DENSE_LAYERS, start=len(CONV_LAYERS)):
        net = layers.Dense(units, activation=activation, name=name, kernel_initializer=init(index))(net)
    return keras.Model(inputs, net, name="vggish")


def build_vggish(config: AudioEmbedderConfig):
    """The Keras VGGish with the configured weights: float32[N,96,64,1] -> float32[N,128]."""
    if config.weights == "seeded":
        return vggish_architecture(config.seed)
    path = config.weights
    if not os.path.exists(path):
        raise FileNotFoundError(f"VGGish weights not found: {path}")
    model = vggish_architecture()
    model.load_weights(path)
    return model


def raw_embeddings(keras_model, examples, batch_size: int = 32):
    """float32[N,96,64] log-mel -> float32[N,128] fc2 outputs (no PCA), `batch_size` at a time."""
    import numpy as np

    out = np.empty((len(examples), DIM), np.float32)
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size, ..., None]
        out[start:start + len(chunk)] = keras_model(chunk, training=False)
    return out


def build_network(config: AudioEmbedderConfig):
    """(Keras VGGish, VGGishPCA) as configured: the PCA file, or for seeded weights without one,
    a PCA derived from their embeddings of `calibration_windows` generated windows."""
    from model.audio import calibration, postprocess
    from model.audio.mel import log_mel_examples

    model = build_vggish(config)
    if config.pca_params:
        return model, postprocess.load_pca(config.pca_params)
    if config.weights != "seeded":
        raise ValueError("VGGish weights from a file need their pca_params")
    windows = calibration.calibration_windows(config.seed, config.calibration_windows)
    raw = raw_embeddings(model, log_mel_examples(windows), config.batch_size)
    return model, postprocess.derive_pca(raw)


def file_digest(path: str) -> str:
    """sha256 (hex) of a file's bytes (any Beam FileSystems path: local or gs://)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    digest = hashlib.sha256()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_source_key(config: AudioEmbedderConfig) -> str:
    """A string naming the network and PCA exactly, without building anything.

    seeded: the seed (the backends' cache key adds the Keras and TensorFlow versions, which fix
    the initialisers) and, with no PCA file, the calibration size the PCA is fitted on; a file:
    its sha256. A PCA file adds its sha256.
    """
    if config.weights == "seeded":
        key = f"seeded:{config.seed}"
    else:
        if not os.path.isfile(config.weights):
            raise FileNotFoundError(f"VGGish weights not found: {config.weights}")
        key = f"sha256:{file_digest(config.weights)}"
    if config.pca_params:
        return f"{key}|pca:sha256:{file_digest(config.pca_params)}"
    return f"{key}|pca:calibration:{config.calibration_windows}"
