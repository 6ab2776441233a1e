"""OpenVINO embedding backends: conversion from Keras, NNCF int8 quantisation, cache, runtime.

Used through `model.embedding.backends.create_backend("openvino-*", ...)`. The converted graph takes
uint8[N,299,299,3] RGB with a dynamic batch and does the [-1, 1] scaling itself (a Convert and a
Multiply-Add ahead of the first convolution, or its FakeQuantize in int8), so no float copy of
the frames is made in Python.
"""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Callable

import numpy as np

from model import openvino_cache  # first: it keeps OpenVINO's telemetry from loading
from model.embedding.constants import FRAME_SHAPE
from model.embedding.inception import lazy, preprocess


def weights_digest(keras_model) -> str:
    """sha256 (hex) of the model's architecture name, input shape and every weight array."""
    h = hashlib.sha256()
    h.update(f"{keras_model.name}|{tuple(keras_model.input_shape)}".encode())
    for w in keras_model.get_weights():
        a = np.ascontiguousarray(w)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def frames_digest(frames: np.ndarray) -> str:
    """sha256 (hex) of a uint8[N,299,299,3] frame array (shape included)."""
    a = np.ascontiguousarray(frames)
    return hashlib.sha256(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()

CALIBRATION_BATCH = 8


def _to_openvino(keras_model):
    """Keras model (input in [-1,1]) -> ov.Model taking uint8[?,299,299,3] with the scaling inside."""
    import openvino as ov
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *FRAME_SHAPE], tf.uint8, name="frames")])
    def embed(frames):
        return keras_model(preprocess(frames), training=False)

    return ov.convert_model(embed.get_concrete_function())


def import_nncf():
    """NNCF, for int8 conversions; an optional extra (workers load converted models from the
    cache), so its absence is one clear error."""
    try:
        import nncf
    except ModuleNotFoundError:
        raise ModuleNotFoundError("int8 conversion needs NNCF, from the 'convert' extra: "
                                  "pip install 'video-iab[convert]'") from None
    return nncf


def _quantize(ov_model, calibration_frames: np.ndarray):
    """NNCF post-training int8 quantisation (symmetric activations, fast bias correction)."""
    nncf = import_nncf()
    batches = [calibration_frames[i:i + CALIBRATION_BATCH]
               for i in range(0, len(calibration_frames), CALIBRATION_BATCH)]
    return nncf.quantize(ov_model, nncf.Dataset(batches), subset_size=len(batches),
                         preset=nncf.QuantizationPreset.PERFORMANCE)


def _cache_key(keras_model, calibration_frames: np.ndarray | None, key_parts: list[str],
               source_key: str | None = None) -> str:
    """The cache entry's key: the weights (their digest, or `source_key` naming them without
    building the model), the backend and versions, and the calibration frames."""
    parts = [f"source:{source_key}" if source_key else weights_digest(keras_model), *key_parts]
    if calibration_frames is not None:
        parts.append(frames_digest(calibration_frames))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _convert(precision: str, keras_model, calibration_frames):
    """Keras model -> ov.Model (quantised to int8 on `calibration_frames` when asked)."""
    ov_model = _to_openvino(keras_model)
    if precision == "int8":
        ov_model = _quantize(ov_model, calibration_frames)
    return ov_model


def compile_config(precision: str, threads: int) -> dict:
    """CPU plugin properties: `threads` streams of one thread each, at the given precision.

    Independent single-thread streams, each taking a share of the batch, beat one stream of
    `threads` threads on this kind of machine, the more so when other processes compete for the
    cores: one late thread no longer stalls every layer's barrier.
    """
    return {
        # int8: the layers NNCF left unquantised run in fp32.
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "NUM_STREAMS": threads,
        "INFERENCE_NUM_THREADS": threads,
        # Pinned threads of two single-thread workers would land on the same core.
        "ENABLE_CPU_PINNING": False,
    }


def _runner(compiled, streams: int) -> Callable[[np.ndarray], np.ndarray]:
    """uint8[N,299,299,3] -> float32[N,2048], N split into up to `streams` parts run concurrently.

    Safe to call from several threads (RunInference shares one loaded model between a worker's
    threads; OpenVINO's infer requests are not thread-safe): calls take turns, and each one
    already uses every inference thread."""
    import openvino as ov

    lock = threading.Lock()
    if streams == 1:
        request = compiled.create_infer_request()

        def run_sync(frames: np.ndarray) -> np.ndarray:
            with lock:
                request.infer({0: frames})
                return request.get_output_tensor(0).data.copy()

        return run_sync

    queue = ov.AsyncInferQueue(compiled, streams)

    def run_split(frames: np.ndarray) -> np.ndarray:
        with lock:
            return _run_on_queue(queue, compiled, streams, frames)

    return run_split


def _run_on_queue(queue, compiled, streams: int, frames: np.ndarray) -> np.ndarray:
    """float32[N,D]: `frames` split into up to `streams` parts, run on `queue` concurrently."""
    out = np.empty((len(frames), compiled.output(0).get_partial_shape()[1].get_length()), np.float32)
    bounds = np.linspace(0, len(frames), min(streams, len(frames)) + 1).astype(int)

    def done(request, span):
        out[span[0]:span[1]] = request.get_output_tensor(0).data

    queue.set_callback(done)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        queue.start_async({0: frames[lo:hi]}, (lo, hi))
    queue.wait_all()
    return out


def build(precision: str, keras_model, cache_dir: str | None, calibration_frames: np.ndarray | None,
          threads: int, cache_key_parts: list[str], source_key: str | None = None
          ) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """Returns (run_batch: uint8[N,299,299,3] -> float32[N,2048], cache_hit).

    keras_model: the model, or a zero-argument callable building it; with `source_key` the
    callable runs only on a cache miss, so a worker whose cache is warm never builds the
    Keras model (nor starts TensorFlow's graph) at all.
    cache_dir None: convert in memory every time (nothing written).
    """
    import openvino as ov

    if precision != "int8":
        calibration_frames = None
    core = ov.Core()
    cache_hit = False
    model = lazy(keras_model)  # built at most once, only if needed

    if cache_dir is None:
        ov_model = _convert(precision, model(), calibration_frames)
    else:
        os.makedirs(cache_dir, exist_ok=True)
        key = _cache_key(None if source_key else model(), calibration_frames, cache_key_parts, source_key)
        meta = {"backend": cache_key_parts[0], "key": key, "key_parts": cache_key_parts,
                "calibration_frames": 0 if calibration_frames is None else len(calibration_frames)}
        if source_key:
            meta["source_key"] = source_key
        ov_model, cache_hit = openvino_cache.read_or_convert(
            core, os.path.join(cache_dir, f"embed-{cache_key_parts[0]}-{key}"),
            lambda: _convert(precision, model(), calibration_frames), meta)

    compiled = core.compile_model(ov_model, "CPU", compile_config(precision, threads))
    return _runner(compiled, threads), cache_hit
