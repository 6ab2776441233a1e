"""Loading an Embedder from its config, and its Beam RunInference handler.

RunInference element: `(key, uint8[T,299,299,3])` -> `(key, float32[T,2048])`; the key is opaque
(it travels with the frames). A batch of videos is concatenated, run in `batch_size`-frame
sub-batches, and split back. BatchElements counts frames, not videos.

Calibration frames come from the caller (`CalibrationSource`): model/ draws and decodes no video.
Loaded models are shared by RunInference alone (between the threads of a step in one worker
process); a warm conversion cache makes each load a matter of a second.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from model.embedding.backends import create_backend
from model.embedding.config import EmbedderConfig
from model.embedding.constants import DIM, FRAME_SHAPE, Features, Frames
from model.embedding.embedder import Embedder
from model.embedding.inception import build_inception, weights_source_key
from model.inference_base import ModelHandler, run_concatenated  # Beam's, memory check mended
from model.openvino_cache import cache_dir_or_default


@dataclasses.dataclass(frozen=True)
class CalibrationSource:
    """Where calibration frames come from (module-level functions, so the handler pickles).

    scenes(seed, count) -> uint8[count,299,299,3]: generated scenes; they re-estimate seeded
      weights' BatchNorm statistics, and calibrate int8 when no sample videos are configured.
    videos(pattern, count) -> uint8[count,299,299,3]: frames of sample videos (int8 calibration
      with `EmbedderConfig.calibration_videos`).
    """

    scenes: Callable[[int, int], Frames]
    videos: Callable[[str, int], Frames]

    def int8_frames(self, config: EmbedderConfig) -> Frames:
        if config.calibration_videos:
            return self.videos(config.calibration_videos, config.calibration_frames)
        return self.scenes(config.seed if config.seed is not None else 0, config.calibration_frames)


def load_embedder(config: EmbedderConfig, calibration: CalibrationSource) -> Embedder:
    """Build the configured embedder. The Keras network is built only when needed (Keras
    backends, or an OpenVINO conversion-cache miss); only int8 draws calibration frames.
    Conversions are cached in `config.cache_dir`, else in the default cache the audio embedder
    and the classifier use too (model.openvino_cache.cache_dir_or_default)."""
    def build():
        seeded = config.weights == "seeded"
        frames = calibration.scenes(config.seed, config.calibration_frames) if seeded else None
        return build_inception(config, frames)

    int8 = calibration.int8_frames(config) if config.precision == "int8" else None
    return create_backend(config.backend, build, cache_dir_or_default(config.cache_dir), int8,
                          max_batch=config.batch_size,
                          source_key=weights_source_key(config), weights_id=config.weights_id)


def _frames_of(element: tuple[Any, Frames]) -> int:
    return max(1, len(element[1]))


class EmbedderHandler(ModelHandler[tuple[Any, Frames], tuple[Any, Features], Embedder]):
    """RunInference handler: (key, uint8[T,299,299,3]) -> (key, float32[T,2048]).

    Batches hold up to `config.batch_frames` frames from any number of videos (one video larger
    than that forms a batch on its own).
    """

    def __init__(self, config: EmbedderConfig, calibration: CalibrationSource):
        super().__init__(min_batch_size=config.batch_frames, max_batch_size=config.batch_frames,
                         element_size_fn=_frames_of)
        self.config = config
        self.calibration = calibration

    def load_model(self) -> Embedder:
        return load_embedder(self.config, self.calibration)

    def run_inference(self, batch: Sequence[tuple[Any, Frames]], model: Embedder,
                      inference_args: dict[str, Any] | None = None
                      ) -> Iterable[tuple[Any, Features]]:
        return run_concatenated(batch, model.embed, np.zeros((0, DIM), np.float32))

    def get_num_bytes(self, batch: Sequence[tuple[Any, Frames]]) -> int:
        return sum(frames.nbytes for _, frames in batch)

    def warm_up_input(self) -> Frames:
        """uint8[0,299,299,3]: an input run_inference answers without the model (a streaming
        job's warm-up element, jobgraph.deadletter.StepChain.run_inference)."""
        return np.zeros((0, *FRAME_SHAPE), np.uint8)

    def get_metrics_namespace(self) -> str:
        return "video_features_embedder"
