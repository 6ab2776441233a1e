"""Beam's RunInference base module, as both RunInference handlers import it.

Beam 2.77 imports the standard `resource` module in the same `try` as its torch-only
ModelManager; without torch (these workers have none) it sets `resource = None`, and every
model load then logs "Resource module is not available for current platform, memory usage
cannot be fetched" twice, which is false on Linux and hides Beam's model-memory metric. The
module is put back here, once per process, before any handler loads a model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference import base
from apache_beam.ml.inference.base import ModelHandler

try:
    import resource
except ImportError:  # not on this platform: Beam's own warning is then true
    resource = None

if getattr(base, "resource", None) is None and resource is not None:
    base.resource = resource

__all__ = ["ModelHandler", "run_concatenated"]


def run_concatenated(batch: Sequence[tuple[Any, np.ndarray]], run: Callable[[np.ndarray], np.ndarray],
                     empty: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """Keyed RunInference batch -> per-key results: each element's rows ([T_i, ...], T_i may be
    0) run together through `run` ([sum T_i, ...] -> [sum T_i, D]) and split back per key;
    `empty` ([0, D]) is every key's result when no element has a row."""
    lengths = [len(rows) for _, rows in batch]
    stacked = [rows for _, rows in batch if len(rows)]
    if not stacked:
        return [(key, empty) for key, _ in batch]
    results = run(np.concatenate(stacked) if len(stacked) > 1 else stacked[0])
    return list(zip((key for key, _ in batch), np.split(results, np.cumsum(lengths)[:-1])))
