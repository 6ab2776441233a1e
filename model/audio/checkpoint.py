"""The published TF1 VGGish checkpoint -> this project's Keras `.weights.h5` (`klio model convert-vggish`).

The checkpoint (`vggish_model.ckpt`) holds one kernel and one bias per layer under scope
`vggish/`, with slim's repeat scopes for the paired layers:
  vggish/conv1/{weights,biases}            kernel [3,3,1,64]
  vggish/conv3/conv3_1/{weights,biases}    kernel [3,3,128,256]
  vggish/fc1/fc1_1/{weights,biases}        kernel [12288,4096]
  vggish/fc2/{weights,biases}              kernel [4096,128]
Convolution kernels are [height, width, in, out] and dense kernels [in, out], as Keras keeps
them; the checkpoint's flatten runs over (height, width, channel) as Keras' channels-last
Flatten does, so arrays are copied as they are.
"""
from __future__ import annotations

import os

import numpy as np

from model.audio.vggish import LAYER_NAMES, vggish_architecture

SCOPE = "vggish"


def checkpoint_name(layer: str) -> str:
    """The checkpoint's scope for Keras layer `layer`: "conv3_1" -> "vggish/conv3/conv3_1"."""
    group, _, index = layer.partition("_")
    return f"{SCOPE}/{group}/{layer}" if index else f"{SCOPE}/{layer}"


def read_checkpoint(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{Keras layer name: (kernel float32, bias float32)} read from a VGGish TF1 checkpoint.

    path: the checkpoint prefix or file (`vggish_model.ckpt`); anything
    `tf.train.load_checkpoint` reads (V1 or V2 format).
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a TensorFlow checkpoint ({getattr(exc, 'message', exc)})") from None
    available = reader.get_variable_to_shape_map()
    out = {}
    for layer in LAYER_NAMES:
        names = [f"{checkpoint_name(layer)}/{part}" for part in ("weights", "biases")]
        missing = [name for name in names if name not in available]
        if missing:
            raise ValueError(f"{path}: not a VGGish checkpoint, missing {', '.join(missing)}")
        kernel, bias = (np.asarray(reader.get_tensor(name), np.float32) for name in names)
        out[layer] = (kernel, bias)
    return out


def convert_checkpoint(checkpoint: str, output: str) -> dict:
    """Write the checkpoint's weights as a Keras `.weights.h5` for `AudioEmbedderConfig.weights`.

    Returns {"checkpoint", "output", "layers", "params"} (JSON-ready). Raises ValueError when a
    variable is missing or shaped unlike VGGish's.
    """
    if not output.endswith(".weights.h5"):
        raise ValueError(f"output must end in .weights.h5 (Keras' weights format), got {output}")
    arrays = read_checkpoint(checkpoint)
    model = vggish_architecture()
    for layer in LAYER_NAMES:
        target = model.get_layer(layer)
        kernel, bias = arrays[layer]
        expected = tuple(tuple(w.shape) for w in target.weights)
        if (kernel.shape, bias.shape) != expected:
            raise ValueError(f"{checkpoint}: {checkpoint_name(layer)} has shapes "
                             f"{kernel.shape}, {bias.shape}; VGGish expects {expected[0]}, {expected[1]}")
        target.set_weights([kernel, bias])
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    model.save_weights(output)
    params = int(sum(kernel.size + bias.size for kernel, bias in arrays.values()))
    return {"checkpoint": checkpoint, "output": output, "layers": list(LAYER_NAMES), "params": params}
