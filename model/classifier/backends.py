"""Runtimes of a trained classifier: Keras (training's own) or OpenVINO (what workers serve with).

    forward, info = create_forward("openvino", config, local_model_dir, cache_dir)
    scores = forward({"rgb": ..., "num_frames": ..., "metadata": ...})   # float32[B, C]

Inputs are the model's named inputs (nextvlad.model_inputs): rgb float32[B, max_frames, N],
num_frames int32[B], audio float32[B, max_frames, N_audio] and metadata float32[B, M] when the
config has them. OpenVINO runs the Keras model converted once per model directory content and
cached on disk (model.openvino_cache): a worker whose cache is warm imports neither TensorFlow
nor Keras. It runs in float32 on one thread (no bf16 downcast, even where the CPU would choose
it), so its scores stay within float32 rounding of Keras'.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from typing import Callable

import numpy as np

from model import openvino_cache
from model.classifier import artifacts
from model.classifier.config import ModelConfig

BACKENDS = ("openvino", "keras")
# Bump when the conversion recipe changes, so old cache entries are not reused.
CONVERSION_VERSION = "1"

Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


def conversion_key(local_dir: str) -> str:
    """24 hex digits of sha256 over the config and weights files' bytes, the converter's
    version and the recipe's: what the converted graph depends on (not the thresholds)."""
    digest = hashlib.sha256(f"{CONVERSION_VERSION}|{importlib.metadata.version('openvino')}|".encode())
    for name in (artifacts.CONFIG_FILE, artifacts.WEIGHTS_FILE):
        with open(os.path.join(local_dir, name), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"|")
    return digest.hexdigest()[:24]


def _keras_model(config: ModelConfig, local_dir: str):
    from model.classifier.nextvlad import build_model

    model = build_model(config)
    model.load_weights(os.path.join(local_dir, artifacts.WEIGHTS_FILE))
    return model


def keras_forward(config: ModelConfig, local_dir: str) -> Forward:
    """The Keras model under TensorFlow, inference mode, one traced graph per input shape."""
    import tensorflow as tf

    model = _keras_model(config, local_dir)
    run = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return lambda inputs: run({k: tf.constant(v) for k, v in inputs.items()}).numpy()


def _to_openvino(config: ModelConfig, local_dir: str):
    """The Keras model -> ov.Model with inputs named as the model's (positional signature:
    a dict signature lets the converter rename an input after its first consumer)."""
    import openvino as ov
    import tensorflow as tf

    from model.classifier.nextvlad import model_inputs

    model = _keras_model(config, local_dir)
    names = config.input_names
    inputs = model_inputs(config)
    specs = [tf.TensorSpec([None, *inputs[n].shape[1:]], inputs[n].dtype, name=n) for n in names]

    @tf.function(input_signature=specs)
    def forward(*tensors):
        return model(dict(zip(names, tensors)), training=False)

    ov_model = ov.convert_model(forward.get_concrete_function())
    for port, name in zip(ov_model.inputs, names):
        port.get_tensor().set_names({name})
    return ov_model


def openvino_forward(config: ModelConfig, local_dir: str, cache_dir: str | None = None) -> tuple[Forward, bool]:
    """(forward, cache_hit): the converted model from `cache_dir` (the default cache when None),
    converting it there first on a miss."""
    import openvino as ov

    key = conversion_key(local_dir)
    entry = os.path.join(openvino_cache.cache_dir_or_default(cache_dir),
                         f"classifier-{config.name}-{key}")
    core = ov.Core()
    ov_model, hit = openvino_cache.read_or_convert(
        core, entry, lambda: _to_openvino(config, local_dir),
        {"model": config.name, "key": key, "conversion_version": CONVERSION_VERSION})
    compiled = core.compile_model(ov_model, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1,
        "ENABLE_CPU_PINNING": False})  # pinned threads of two workers would share a core
    request = compiled.create_infer_request()
    lock = threading.Lock()  # RunInference shares one loaded model between a worker's threads

    def forward(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with lock:
            request.infer({name: np.ascontiguousarray(value) for name, value in inputs.items()})
            return request.get_output_tensor(0).data.copy()

    return forward, hit


def create_forward(backend: str, config: ModelConfig, local_dir: str,
                   cache_dir: str | None = None) -> tuple[Forward, dict]:
    """(forward, info): info = {"backend", "cache_hit"} (cache_hit None for Keras)."""
    if backend == "keras":
        return keras_forward(config, local_dir), {"backend": backend, "cache_hit": None}
    if backend == "openvino":
        forward, hit = openvino_forward(config, local_dir, cache_dir)
        return forward, {"backend": backend, "cache_hit": hit}
    raise ValueError(f"unknown classifier backend {backend!r}: one of {', '.join(BACKENDS)}")
