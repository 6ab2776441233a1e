"""The one AudioEmbedder: float32[N,15600] audio windows -> float32[N,128] VGGish features."""
from __future__ import annotations

import dataclasses

import numpy as np

from model.audio.constants import DIM, EXAMPLE_SHAPE, NAME
from model.audio.mel import check_windows, log_mel_examples
from model.batched_model import BatchedModel


@dataclasses.dataclass(frozen=True)
class AudioEmbedderInfo:
    """What produced the features, for the feature file's context."""

    version: str
    backend: str
    precision: str = "fp32"
    name: str = NAME


class AudioEmbedder(BatchedModel):
    """A backend ready to run: `embed(windows float32[N,15600]) -> float32[N,128]` (also `__call__`).

    Any N >= 0. Windows go through the log-mel front end and `run_batch` (float32[n,96,64]
    log-mel -> float32[n,128] postprocessed embeddings, PCA included) in chunks of at most
    `max_batch`. `info` (AudioEmbedderInfo) is what feature files record; see BatchedModel for
    the rest.
    """

    def embed_examples(self, examples: np.ndarray) -> np.ndarray:
        """float32[N,96,64] log-mel examples -> float32[N,128] features."""
        examples = np.asarray(examples, np.float32)
        if examples.ndim != 3 or examples.shape[1:] != EXAMPLE_SHAPE:
            raise ValueError(f"examples must be float32[N,96,64], got {examples.dtype}{list(examples.shape)}")
        return self._run_chunked(examples, DIM)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """float32[N,15600] 16 kHz samples in [-1, 1] -> float32[N,128] features (not clipped)."""
        return self._run_chunked(check_windows(windows), DIM, log_mel_examples)

    __call__ = embed
