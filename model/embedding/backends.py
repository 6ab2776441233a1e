"""Inference backends for the Inception-v3 frame embedder.

One entry point, `create_backend(name, keras_model, cache_dir, calibration_frames)`, turns the
Keras reference model into an Embedder `uint8[N,299,299,3] RGB -> float32[N,2048]` on one runtime
and precision. The [-1, 1] input scaling (x / 127.5 - 1) is done by the backend (folded into the
converted graph for OpenVINO), so callers hand over decoded frames as they are.

Backends (`BACKENDS`):
  keras-fp32      the reference: the Keras model under TensorFlow, float32.
  keras-bf16      the same weights cloned under Keras' mixed_bfloat16 policy.
  openvino-fp32   OpenVINO CPU plugin, float32 (checks the conversion; about Keras' speed).
  openvino-bf16   OpenVINO with INFERENCE_PRECISION_HINT=bf16 (AVX512-BF16 / AMX-BF16).
  openvino-int8   NNCF post-training quantisation (int8 weights and activations, VNNI / AMX-INT8),
                  calibrated on `calibration_frames`; other layers stay float32.

OpenVINO models are converted once and cached in `cache_dir` under a key made of the weights,
the backend, the calibration frames and the converter versions; a cache entry is written to a
temporary directory and renamed into place, so two processes converting at once are safe.

Inference threads: the `num_threads` argument, else the `VIDEO_IAB_EMBED_THREADS` environment
variable, else every CPU the process may use. One thread per worker process is what lets Beam
scale workers out; OpenVINO then does not pin its thread, so two workers do not share a core.
TensorFlow's thread pool is per process and fixed once TF starts: for the Keras backends the
count applies only if set before TensorFlow runs anything (`backend_info` records what holds).
"""
from __future__ import annotations

import importlib.metadata
import logging
import os

import numpy as np

from model import openvino_cache  # noqa: F401 - first: it keeps OpenVINO's (and NNCF's) telemetry off
from model.embedding.config import EmbedderInfo, weights_version
from model.embedding.embedder import Embedder, check_frames
from model.embedding.inception import ModelSource, lazy


log = logging.getLogger(__name__)

THREADS_ENV = "VIDEO_IAB_EMBED_THREADS"
DEFAULT_MAX_BATCH = 32
# Bump when the conversion recipe changes, so old cache entries are not reused.
CONVERSION_VERSION = "1"

_SPECS = {
    "keras-fp32": ("tensorflow", "fp32"),
    "keras-bf16": ("tensorflow", "bf16"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-bf16": ("openvino", "bf16"),
    "openvino-int8": ("openvino", "int8"),
}
BACKENDS: tuple[str, ...] = tuple(_SPECS)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def backend_info(name: str) -> dict:
    """What to record next to features computed by backend `name`.

    Returns:
      {"backend", "runtime", "runtime_version", "precision"} (+ "quantizer" for int8,
      "keras_version" for Keras backends), all strings.
    """
    runtime, precision = _spec(name)
    info = {"backend": name, "runtime": runtime, "precision": precision}
    if runtime == "openvino":
        info["runtime_version"] = _version("openvino")
        if precision == "int8":
            info["quantizer"] = f"nncf {_version('nncf')}"
    else:
        info["runtime_version"] = _version("tensorflow-cpu") if _version("tensorflow-cpu") != "not installed" \
            else _version("tensorflow")
        info["keras_version"] = _version("keras")
    return info


def inference_threads(num_threads: int | None = None) -> int:
    """The number of inference threads: the argument, else $VIDEO_IAB_EMBED_THREADS, else all CPUs."""
    if num_threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env:
            try:
                num_threads = int(env)
            except ValueError:
                raise ValueError(f"{THREADS_ENV}={env!r}: expected a positive integer") from None
    if num_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if num_threads < 1:
        raise ValueError(f"number of inference threads must be >= 1, got {num_threads}")
    return int(num_threads)


def runtime_info(name: str, max_batch: int, num_threads: int | None) -> dict:
    """`backend_info(name)` plus the resolved "threads"; checks max_batch (both embedders' rule)."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    return dict(backend_info(name), threads=inference_threads(num_threads))


def create_backend(name: str, keras_model: ModelSource, cache_dir: str | None,
                   calibration_frames: np.ndarray | None = None, *, num_threads: int | None = None,
                   max_batch: int = DEFAULT_MAX_BATCH, source_key: str | None = None,
                   weights_id: str = "unspecified") -> Embedder:
    """Build backend `name` for `keras_model`.

    Args:
      name: one of BACKENDS.
      keras_model: Keras InceptionV3(include_top=False, pooling="avg"), input float32[N,299,299,3]
        already scaled to [-1, 1], output float32[N,2048]; or a zero-argument callable returning
        it, called only when the model is needed (Keras backends, or an OpenVINO cache miss).
      cache_dir: where converted models are cached (created if missing), next to the weights;
        None converts in memory on every call.
      calibration_frames: uint8[M,299,299,3] RGB sample frames; required by "openvino-int8"
        (a few hundred frames from the kind of videos it will see), ignored by the others.
      num_threads: inference threads (default: $VIDEO_IAB_EMBED_THREADS, else all CPUs).
      max_batch: the most frames run at once (bounds memory; throughput is flat from 8 to 64).
      source_key: a string that names the weights exactly (e.g. a weights file's sha256), used
        for the OpenVINO cache key instead of a digest of the built model, so a warm cache
        loads without building the Keras model. None: digest the model's weights.
      weights_id: how feature files name the weights (EmbedderConfig.weights_id).

    Returns:
      Embedder: uint8[N,299,299,3] RGB -> float32[N,2048].
    """
    runtime, precision = _spec(name)
    if precision == "int8":
        if calibration_frames is None or len(calibration_frames) == 0:
            raise ValueError(f"backend {name!r} quantises activations and needs calibration_frames: "
                             "pass a few hundred uint8[N,299,299,3] sample frames")
        calibration_frames = check_frames(calibration_frames, "calibration_frames")
    info = runtime_info(name, max_batch, num_threads)
    threads = info["threads"]
    model = lazy(keras_model)
    cache_hit = False
    if runtime == "openvino":
        from model.embedding import openvino_backend

        run_batch, cache_hit = openvino_backend.build(
            precision, model, cache_dir, calibration_frames, threads, cache_key_parts=_key_parts(name),
            source_key=source_key)
    else:
        from model.embedding import keras_backend

        explicit = num_threads is not None or os.environ.get(THREADS_ENV, "").strip() != ""
        run_batch, info["threads"] = keras_backend.build(precision, model(), threads if explicit else None)
    identity = EmbedderInfo(version=weights_version(weights_id), backend=name, precision=precision)
    return Embedder(run_batch, identity, info, max_batch, cache_hit, build_keras=model)


def _spec(name: str) -> tuple[str, str]:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown embedding backend {name!r}; expected one of {', '.join(BACKENDS)}") from None


def _key_parts(name: str) -> list[str]:
    # Not NNCF's version: workers lack the 'convert' extra yet must find the baked conversion.
    return [name, CONVERSION_VERSION, _version("openvino"), _version("tensorflow-cpu"), _version("keras")]
