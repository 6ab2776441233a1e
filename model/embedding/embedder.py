"""The one Embedder: uint8[N,299,299,3] RGB frames -> float32[N,2048] features on a backend."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from model.embedding.config import EmbedderInfo
from model.embedding.constants import DIM, FRAME_SHAPE, Features, Frames


def check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """Validate uint8[N,299,299,3] RGB frames; returns them as a C-contiguous array."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"{what} must be uint8[N,299,299,3] RGB, got {frames.dtype}{list(frames.shape)}")
    return np.ascontiguousarray(frames)


@dataclasses.dataclass(eq=False)
class Embedder:
    """A backend ready to run: `embed(frames uint8[N,299,299,3]) -> float32[N,2048]` (also `__call__`).

    Any N >= 0; frames go through `run_batch` in chunks of at most `max_batch`. `info`
    (EmbedderInfo: name, version, backend, precision) is what feature files record; `runtime`
    the backend's runtime, versions and "threads"; `cache_hit` is True when a converted model
    came from the conversion cache; `keras_model` is the reference network, built on first
    access by `build_keras` (a warm OpenVINO cache never builds it).
    """

    run_batch: Callable[[Frames], Features]
    info: EmbedderInfo
    runtime: dict
    max_batch: int
    cache_hit: bool = False
    build_keras: Callable[[], Any] | None = None

    @property
    def name(self) -> str:
        return self.info.backend

    @property
    def precision(self) -> str:
        return self.info.precision

    @property
    def keras_model(self):
        if self.build_keras is None:
            raise AttributeError("this embedder was built without its Keras model")
        return self.build_keras()

    def embed(self, frames: Frames) -> Features:
        frames = check_frames(frames)
        out = np.empty((len(frames), DIM), np.float32)
        for start in range(0, len(frames), self.max_batch):
            chunk = frames[start:start + self.max_batch]
            out[start:start + len(chunk)] = self.run_batch(chunk)
        return out

    __call__ = embed

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, threads={self.runtime.get('threads')}, cache_hit={self.cache_hit})"
