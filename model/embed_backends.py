"""Inference backends for the Inception-v3 frame embedder.

One entry point, `create_backend(name, keras_model, cache_dir, calibration_frames)`, turns the
Keras reference model into a callable `uint8[N,299,299,3] RGB -> float32[N,2048]` on one runtime
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

import hashlib
import importlib.metadata
import logging
import os
import sys
from typing import Callable

import numpy as np

# OpenVINO's and NNCF's telemetry would send usage events to an outside analytics service when no
# consent file exists. Both fall back to a no-op stub when their telemetry package cannot be
# imported; nothing this project does may leave the machine, so make sure it cannot be.
sys.modules.setdefault("openvino_telemetry", None)

log = logging.getLogger(__name__)

FRAME_SHAPE = (299, 299, 3)
EMBEDDING_DIM = 2048
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


def check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """Validate uint8[N,299,299,3] RGB frames; returns them as a C-contiguous array."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"{what} must be uint8[N,299,299,3] RGB, got {frames.dtype}{list(frames.shape)}")
    return np.ascontiguousarray(frames)


class Embedder:
    """A backend ready to run: `embedder(frames uint8[N,299,299,3]) -> float32[N,2048]`.

    Any N >= 0; frames go through in chunks of at most `max_batch`. Attributes: `name`,
    `precision` ("fp32" | "bf16" | "int8"), `info` (backend_info plus "threads"), `cache_hit`
    (True when a converted model came from cache_dir).
    """

    def __init__(self, name: str, run_batch: Callable[[np.ndarray], np.ndarray], info: dict,
                 max_batch: int, cache_hit: bool = False):
        self.name = name
        self.precision = info["precision"]
        self.info = info
        self.cache_hit = cache_hit
        self.max_batch = max_batch
        self._run_batch = run_batch

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = check_frames(frames)
        out = np.empty((len(frames), EMBEDDING_DIM), np.float32)
        for start in range(0, len(frames), self.max_batch):
            chunk = frames[start:start + self.max_batch]
            out[start:start + len(chunk)] = self._run_batch(chunk)
        return out

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, threads={self.info.get('threads')}, cache_hit={self.cache_hit})"


def create_backend(name: str, keras_model, cache_dir: str | None, calibration_frames: np.ndarray | None = None,
                   *, num_threads: int | None = None, max_batch: int = DEFAULT_MAX_BATCH,
                   source_key: str | None = None) -> Embedder:
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
      max_batch: the most frames run at once (bounds memory; 32 is near the best throughput).
      source_key: a string that names the weights exactly (e.g. a weights file's sha256), used
        for the OpenVINO cache key instead of a digest of the built model, so a warm cache
        loads without building the Keras model. None: digest the model's weights.

    Returns:
      Embedder: uint8[N,299,299,3] RGB -> float32[N,2048].
    """
    runtime, precision = _spec(name)
    if precision == "int8":
        if calibration_frames is None or len(calibration_frames) == 0:
            raise ValueError(f"backend {name!r} quantises activations and needs calibration_frames: "
                             "pass a few hundred uint8[N,299,299,3] sample frames")
        calibration_frames = check_frames(calibration_frames, "calibration_frames")
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    threads = inference_threads(num_threads)
    info = dict(backend_info(name), threads=threads)
    if runtime == "openvino":
        from model import embed_backends_openvino

        run_batch, cache_hit = embed_backends_openvino.build(
            precision, keras_model, cache_dir, calibration_frames, threads, cache_key_parts=_key_parts(name),
            source_key=source_key)
        return Embedder(name, run_batch, info, max_batch, cache_hit)
    from model import embed_backends_keras

    keras_model = materialise(keras_model)
    explicit = num_threads is not None or os.environ.get(THREADS_ENV, "").strip() != ""
    run_batch, info["threads"] = embed_backends_keras.build(precision, keras_model, threads if explicit else None)
    return Embedder(name, run_batch, info, max_batch)


def materialise(keras_model):
    """The Keras model itself, or the result of calling a zero-argument builder for it."""
    return keras_model() if callable(keras_model) and not hasattr(keras_model, "layers") else keras_model


def _spec(name: str) -> tuple[str, str]:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown embedding backend {name!r}; expected one of {', '.join(BACKENDS)}") from None


def _key_parts(name: str) -> list[str]:
    return [name, CONVERSION_VERSION, _version("openvino"), _version("nncf"), _version("tensorflow-cpu"),
            _version("keras")]
