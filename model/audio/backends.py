"""Inference backends for the VGGish audio embedder: Keras (TensorFlow) and OpenVINO.

`create_backend(name, network, cache_dir, ...)` turns the Keras VGGish and its postprocessing
PCA into an AudioEmbedder `float32[N,15600] -> float32[N,128]`. Every backend runs one graph
from log-mel examples float32[n,96,64] to postprocessed features float32[n,128]: the network,
then `(embedding - means.T) @ eigen_vectors.T`, so the PCA travels inside the converted model
(a seeded network's derived PCA included, and a warm cache needs neither TensorFlow nor Keras).

Backends (`BACKENDS`):
  keras-fp32      the reference: the Keras model under TensorFlow.
  openvino-fp32   OpenVINO CPU plugin, converted once and cached in `cache_dir` (through
                  `model.openvino_cache`) under a key made of the weights' and PCA's identity,
                  the conversion recipe and the converters' versions.
  openvino-int8   the same network after NNCF post-training quantisation (int8 weights and
                  activations of conv2..conv4_2: VNNI), calibrated on log-mel examples of
                  `calibration.calibration_windows(seed, count)`, then int8 *weights only* for
                  the three fully connected layers (symmetric, one scale per output channel;
                  their activations stay float32). The log-mel input, conv1 (0.4% of the work)
                  and the PCA stay float32: the PCA is added last, so neither step sees it. The
                  FC layers hold 67 M of the 72 M weights: as float32 a worker kept them twice
                  (the memory-mapped file and the CPU plugin's repacked copy, ~690 MB resident
                  in all); int8 weights, which the plugin multiplies without unpacking, make it
                  ~300 MB and a window ~1.2x faster, at the same probe-task quality
                  (tests/model/test_audio_embedder.py). The cache key adds the calibration seed
                  and count (not NNCF's version: workers without NNCF must find the entry, as
                  for the frame embedder).

Inference threads follow the frame embedder's rule (`model.embedding.backends.inference_threads`:
the argument, else $VIDEO_IAB_EMBED_THREADS, else every CPU the process may use).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Callable

from model import openvino_cache  # first: it keeps OpenVINO's telemetry off
from model.audio.config import BACKENDS, DEFAULT_CALIBRATION_WINDOWS
from model.audio.constants import EXAMPLE_SHAPE
from model.audio.embedder import AudioEmbedder, AudioEmbedderInfo
from model.embedding.backends import THREADS_ENV, backend_info, runtime_info
from model.embedding.config import weights_version
from model.embedding.inception import lazy

# Bump when the conversion recipe changes, so old cache entries are not reused.
CONVERSION_VERSION = "2"  # 2: int8 also compresses the FC weights
DEFAULT_MAX_BATCH = 32
CALIBRATION_BATCH = 8

# A zero-argument callable returning (keras VGGish, VGGishPCA); called only when needed.
NetworkSource = Callable[[], tuple[Any, Any]]


def postprocessed_function(keras_model, pca):
    """tf.function: float32[n,96,64] log-mel -> float32[n,128], the network then the PCA."""
    import tensorflow as tf

    means = tf.constant(pca.means.T)             # [1,128]
    projection = tf.constant(pca.eigen_vectors.T)  # [128,128]: columns are components

    @tf.function(input_signature=[tf.TensorSpec([None, *EXAMPLE_SHAPE], tf.float32, name="log_mel")])
    def embed(examples):
        raw = keras_model(tf.expand_dims(examples, -1), training=False)
        return tf.matmul(raw - means, projection)

    return embed


def raw_function(keras_model):
    """tf.function: float32[n,96,64] log-mel -> float32[n,128] fc2 outputs (no PCA)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *EXAMPLE_SHAPE], tf.float32, name="log_mel")])
    def embed(examples):
        return keras_model(tf.expand_dims(examples, -1), training=False)

    return embed


def default_calibration(weights_id: str) -> tuple[int, int]:
    """(seed, count) of the int8 calibration windows when none is given: a seeded network's seed
    (its PCA's calibration windows), else seed 0; DEFAULT_CALIBRATION_WINDOWS windows."""
    seed = int(weights_id.split(":", 1)[1]) if weights_id.startswith("seeded:") else 0
    return seed, DEFAULT_CALIBRATION_WINDOWS


def _quantize(ov_model, examples):
    """NNCF int8 of the raw network (float32[n,96,64] -> [n,128]), in two steps:
    1. post-training quantisation of the convolutions but the first (whose float32 log-mel input
       stays unquantised), symmetric activations (PERFORMANCE preset), fast bias correction,
       statistics over every example given; the fully connected MatMuls are left out;
    2. weight-only int8 of those MatMuls (INT8_SYM: per output channel, no zero point); the
       first convolution, which step 2 would also take, keeps its float32 weights."""
    from model.embedding.openvino_backend import import_nncf  # the frame embedder's

    nncf = import_nncf()
    ops = ov_model.get_ordered_ops()
    first_conv = next(op.get_friendly_name() for op in ops if op.get_type_name() == "Convolution")
    keep_float = [first_conv] + [op.get_friendly_name() for op in ops if op.get_type_name() == "MatMul"]
    batches = [examples[i:i + CALIBRATION_BATCH] for i in range(0, len(examples), CALIBRATION_BATCH)]
    quantized = nncf.quantize(ov_model, nncf.Dataset(batches), subset_size=len(batches),
                              preset=nncf.QuantizationPreset.PERFORMANCE,
                              ignored_scope=nncf.IgnoredScope(names=keep_float))
    return nncf.compress_weights(quantized, mode=nncf.CompressWeightsMode.INT8_SYM,
                                 ignored_scope=nncf.IgnoredScope(names=[first_conv]))


def _append_pca(ov_model, pca):
    """ov.Model float32[n,96,64] -> float32[n,128] raw, plus the float32 PCA after its output."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    raw = ov_model.get_results()[0].input_value(0)  # fc2's output (not its Result node)
    centred = ops.subtract(raw, ops.constant(np.asarray(pca.means.T, np.float32)))
    projected = ops.matmul(centred, ops.constant(np.ascontiguousarray(pca.eigen_vectors.T, np.float32)),
                           False, False)
    return ov.Model([projected], ov_model.get_parameters(), "vggish_int8")


def _convert_int8(network: Callable[[], tuple[Any, Any]], calibration: tuple[int, int]):
    """Keras VGGish -> int8 ov.Model float32[n,96,64] -> float32[n,128] (PCA included, float32)."""
    import openvino as ov

    from model.audio.calibration import calibration_windows
    from model.audio.mel import log_mel_examples

    keras_model, pca = network()
    raw = ov.convert_model(raw_function(keras_model).get_concrete_function())
    examples = log_mel_examples(calibration_windows(*calibration))
    return _append_pca(_quantize(raw, examples), pca)


def _keras(network: Callable[[], tuple[Any, Any]], num_threads: int | None, threads: int):
    from model.embedding.keras_backend import _set_threads  # the frame embedder's TF thread rule

    explicit = num_threads is not None or os.environ.get(THREADS_ENV, "").strip() != ""
    threads_in_force = _set_threads(threads if explicit else None)  # before TF runs anything
    embed = postprocessed_function(*network())
    return (lambda examples: embed(examples).numpy()), threads_in_force


def _convert(network: Callable[[], tuple[Any, Any]]):
    import openvino as ov

    return ov.convert_model(postprocessed_function(*network()).get_concrete_function())


def cache_key(name: str, source_key: str, calibration: tuple[int, int] | None = None
              ) -> tuple[str, list[str]]:
    """(key, its parts): the network and PCA identity, the backend, recipe and converter versions,
    and for int8 the calibration windows' seed and count (NNCF's version is not a part: workers
    lack NNCF yet must find the entry)."""
    parts = [name, CONVERSION_VERSION, backend_info("openvino-fp32")["runtime_version"],
             backend_info("keras-fp32")["runtime_version"], backend_info("keras-fp32")["keras_version"]]
    if calibration is not None:
        parts.append(f"calibration:{calibration[0]}:{calibration[1]}")
    return hashlib.sha256("|".join([f"source:{source_key}", *parts]).encode()).hexdigest()[:24], parts


def _openvino(name: str, network: Callable[[], tuple[Any, Any]], cache_dir: str | None,
              source_key: str, threads: int, calibration: tuple[int, int] | None):
    """(run_batch float32[n,96,64] -> float32[n,128], cache_hit); `calibration` (seed, count)
    only for openvino-int8."""
    import openvino as ov

    from model.embedding.openvino_backend import _runner, compile_config  # same plugin settings

    def convert():
        return _convert(network) if calibration is None else _convert_int8(network, calibration)

    core = ov.Core()
    cache_hit = False
    if cache_dir is None:
        ov_model = convert()
    else:
        key, parts = cache_key(name, source_key, calibration)
        meta = {"backend": name, "model": "vggish", "key": key, "key_parts": parts, "source_key": source_key}
        ov_model, cache_hit = openvino_cache.read_or_convert(
            core, os.path.join(cache_dir, f"audio-{name}-{key}"), convert, meta)
    precision = "fp32" if calibration is None else "int8"  # int8: NNCF's float layers run f32
    compiled = core.compile_model(ov_model, "CPU", compile_config(precision, threads))
    return _runner(compiled, threads), cache_hit


def create_backend(name: str, network: NetworkSource, cache_dir: str | None, *, source_key: str,
                   weights_id: str, num_threads: int | None = None,
                   max_batch: int = DEFAULT_MAX_BATCH,
                   calibration: tuple[int, int] | None = None) -> AudioEmbedder:
    """Build backend `name` for the network `network()` returns.

    Args:
      name: one of BACKENDS.
      network: zero-argument callable returning (Keras VGGish float32[N,96,64,1] ->
        float32[N,128], VGGishPCA); called at most once, and only for keras-fp32 or an OpenVINO
        cache miss.
      cache_dir: where converted models are cached (created if missing); None converts in
        memory on every call.
      source_key: a string naming the weights and PCA exactly (`vggish.weights_source_key`).
      weights_id: how feature files name the weights (AudioEmbedderConfig.weights_id).
      num_threads: inference threads (default: $VIDEO_IAB_EMBED_THREADS, else all CPUs).
      max_batch: the most windows run at once.
      calibration: (seed, count) of the generated windows `calibration.calibration_windows`
        that openvino-int8 is calibrated on (AudioEmbedderConfig.int8_calibration); None:
        `default_calibration(weights_id)`. Ignored by the float backends.

    Returns:
      AudioEmbedder: float32[N,15600] -> float32[N,128].
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown audio embedding backend {name!r}; expected one of {', '.join(BACKENDS)}")
    info = runtime_info(name, max_batch, num_threads)
    threads = info["threads"]
    built = lazy(network)
    cache_hit = False
    if name.startswith("openvino-"):
        if name == "openvino-int8":
            calibration = tuple(calibration) if calibration is not None else default_calibration(weights_id)
        else:
            calibration = None
        run_batch, cache_hit = _openvino(name, built, cache_dir, source_key, threads, calibration)
    else:
        run_batch, info["threads"] = _keras(built, num_threads, threads)
    identity = AudioEmbedderInfo(version=weights_version(weights_id), backend=name,
                                 precision=info["precision"])
    return AudioEmbedder(run_batch, identity, info, max_batch, cache_hit,
                         build_keras=lambda: built()[0])
