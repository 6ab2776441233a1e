"""What both embedders share: a backend's batch function run over any number of inputs in
chunks, with what made it (info), its runtime and, on demand, the Keras reference network."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np


@dataclasses.dataclass(eq=False)
class BatchedModel:
    """`run_batch` maps a chunk of at most `max_batch` inputs to float32[n, D] outputs.

    `info` (name, version, backend, precision) is what feature files record; `runtime` the
    backend's runtime, versions and "threads"; `cache_hit` is True when a converted model came
    from the conversion cache; `keras_model` is the reference network, built on first access by
    `build_keras` (a warm OpenVINO cache never builds it).
    """

    run_batch: Callable[[np.ndarray], np.ndarray]
    info: Any
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
            raise AttributeError(f"this {type(self).__name__} was built without its Keras model")
        return self.build_keras()

    def _run_chunked(self, inputs: np.ndarray, dim: int,
                     prepare: Callable[[np.ndarray], np.ndarray] = np.ascontiguousarray) -> np.ndarray:
        """float32[N, dim]: `run_batch(prepare(chunk))` over chunks of at most max_batch inputs."""
        out = np.empty((len(inputs), dim), np.float32)
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start:start + self.max_batch]
            out[start:start + len(chunk)] = self.run_batch(prepare(chunk))
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, threads={self.runtime.get('threads')}, "
                f"cache_hit={self.cache_hit})")
