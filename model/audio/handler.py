"""Loading an AudioEmbedder from its config, and its Beam RunInference handler.

RunInference element: `(key, float32[T,15600])` -> `(key, float32[T,128])`; the key is opaque
(it travels with the windows) and T may be 0. A batch of videos is concatenated, run in
`batch_size`-window sub-batches, and split back. BatchElements counts windows, not videos.
The model is shared between a step's threads by RunInference itself.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from model.audio.backends import create_backend
from model.audio.config import AudioEmbedderConfig
from model.audio.constants import DIM, WINDOW_SAMPLES
from model.audio.embedder import AudioEmbedder
from model.openvino_cache import cache_dir_or_default
from model.audio.vggish import build_network, weights_source_key
from model.inference_base import ModelHandler, run_concatenated  # Beam's, memory check mended


def load_audio_embedder(config: AudioEmbedderConfig, num_threads: int | None = None) -> AudioEmbedder:
    """Build the configured embedder. The Keras network (and, for seeded weights, its PCA
    calibration) is built only when needed: keras-fp32, or an OpenVINO conversion-cache miss.
    Conversions are cached in `config.cache_dir`, else in the default cache the classifier
    uses too (model.openvino_cache.cache_dir_or_default)."""
    return create_backend(config.backend, functools.partial(build_network, config),
                          cache_dir_or_default(config.cache_dir),
                          source_key=weights_source_key(config), weights_id=config.weights_id,
                          num_threads=num_threads, max_batch=config.batch_size,
                          calibration=config.int8_calibration)


def _windows_of(element: tuple[Any, np.ndarray]) -> int:
    return max(1, len(element[1]))


class AudioEmbedderHandler(ModelHandler[tuple[Any, np.ndarray], tuple[Any, np.ndarray], AudioEmbedder]):
    """RunInference handler: (key, float32[T,15600]) -> (key, float32[T,128]).

    Batches hold up to `config.batch_windows` windows from any number of videos (one video
    larger than that forms a batch on its own; a video without audio windows counts as one).
    """

    def __init__(self, config: AudioEmbedderConfig):
        super().__init__(min_batch_size=config.batch_windows, max_batch_size=config.batch_windows,
                         element_size_fn=_windows_of)
        self.config = config

    def load_model(self) -> AudioEmbedder:
        return load_audio_embedder(self.config)

    def run_inference(self, batch: Sequence[tuple[Any, np.ndarray]], model: AudioEmbedder,
                      inference_args: dict[str, Any] | None = None) -> Iterable[tuple[Any, np.ndarray]]:
        return run_concatenated(batch, model.embed, np.zeros((0, DIM), np.float32))

    def get_num_bytes(self, batch: Sequence[tuple[Any, np.ndarray]]) -> int:
        return sum(np.asarray(windows).nbytes for _, windows in batch)

    def warm_up_input(self) -> np.ndarray:
        """float32[0,15600]: an input run_inference answers without the model (a streaming
        job's warm-up element, jobgraph.deadletter.StepChain.run_inference)."""
        return np.zeros((0, WINDOW_SAMPLES), np.float32)

    def get_metrics_namespace(self) -> str:
        return "video_features_audio"
