"""The one Embedder: uint8[N,299,299,3] RGB frames -> float32[N,2048] features on a backend."""
from __future__ import annotations

import numpy as np

from model.batched_model import BatchedModel
from model.embedding.constants import DIM, FRAME_SHAPE, Features, Frames


def check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """Validate uint8[N,299,299,3] RGB frames; returns them as a C-contiguous array."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"{what} must be uint8[N,299,299,3] RGB, got {frames.dtype}{list(frames.shape)}")
    return np.ascontiguousarray(frames)


class Embedder(BatchedModel):
    """A backend ready to run: `embed(frames uint8[N,299,299,3]) -> float32[N,2048]` (also `__call__`).

    Any N >= 0; frames go through `run_batch` in chunks of at most `max_batch`. `info`
    (EmbedderInfo: name, version, backend, precision) is what feature files record; see
    BatchedModel for the rest.
    """

    def embed(self, frames: Frames) -> Features:
        return self._run_chunked(check_frames(frames), DIM)

    __call__ = embed
