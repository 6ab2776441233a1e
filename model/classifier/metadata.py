"""Encoding of upload metadata into the metadata branch's input vector.

A video's metadata is a dict with any of these keys (missing or None = unknown):
    category: str   upload category chosen by the uploader (e.g. "Sports")
    language: str   language code (e.g. "en")
    duration: float video duration in seconds
    channel:  str   channel / owner id
In TFRecords they are the context features `meta_category`, `meta_language` (bytes),
`meta_duration` (float) and `meta_channel` (bytes).

The encoded vector float32[M] (M = MetadataConfig.width) is, in this order:
    one-hot category  [len(categories) + 1]  slot 0 = unknown / missing / not in the vocabulary
    one-hot language  [len(languages) + 1]   same
    duration          [2]                    [log1p(seconds) / 8, 1.0 if missing else 0.0]
    channel bucket    [channel_buckets]      one-hot of blake2b(channel) mod buckets; zeros if missing
Each part is present only when configured. Vocabulary matching is case-insensitive.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping, Sequence

import numpy as np

from model.classifier.config import MetadataConfig
from model.features.codec import METADATA_KEYS

DURATION_SCALE = 8.0  # log1p(3000 s) ~ 8: an hour-long video encodes to about 1


def channel_bucket(channel: str, buckets: int) -> int:
    """Stable bucket of a channel id (blake2b, independent of process and platform)."""
    digest = hashlib.blake2b(channel.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise ValueError(f"metadata: expected a string, got {type(value).__name__} {value!r}")
    return value.strip()


class MetadataEncoder:
    """Encodes metadata dicts for one MetadataConfig (see module docstring)."""

    def __init__(self, config: MetadataConfig):
        self.config = config
        self._categories = {v.strip().lower(): i + 1 for i, v in enumerate(config.categories)}
        self._languages = {v.strip().lower(): i + 1 for i, v in enumerate(config.languages)}

    @property
    def width(self) -> int:
        return self.config.width

    def encode(self, metadata: Mapping[str, Any] | None) -> np.ndarray:
        """One video's metadata dict -> float32[M]."""
        metadata = metadata or {}
        unknown = sorted(set(metadata) - set(METADATA_KEYS))
        if unknown:
            raise ValueError(f"metadata: unknown key(s) {unknown}; expected some of "
                             f"{sorted(METADATA_KEYS)}")
        out = np.zeros(self.width, dtype=np.float32)
        pos = 0
        for vocab in (self._categories, self._languages):
            if not vocab:
                continue
            key = "category" if vocab is self._categories else "language"
            out[pos + vocab.get(_text(metadata.get(key)).lower(), 0)] = 1.0
            pos += len(vocab) + 1
        if self.config.duration:
            duration = metadata.get("duration")
            if duration is None or not math.isfinite(float(duration)) or float(duration) < 0:
                out[pos + 1] = 1.0
            else:
                out[pos] = math.log1p(float(duration)) / DURATION_SCALE
            pos += 2
        if self.config.channel_buckets:
            channel = _text(metadata.get("channel"))
            if channel:
                out[pos + channel_bucket(channel, self.config.channel_buckets)] = 1.0
        return out

    def encode_batch(self, metadata: Sequence[Mapping[str, Any] | None] | None,
                     batch_size: int) -> np.ndarray:
        """A list of dicts (or None = all unknown) -> float32[B, M]."""
        if metadata is None:
            metadata = [None] * batch_size
        if len(metadata) != batch_size:
            raise ValueError(f"metadata: {len(metadata)} entries for a batch of {batch_size}")
        return np.stack([self.encode(m) for m in metadata]).astype(np.float32).reshape(
            batch_size, self.width)

    def encode_context(self, category: bytes, language: bytes, duration: float,
                       channel: bytes) -> np.ndarray:
        """The TFRecord context values (empty bytes / negative duration = missing) -> float32[M]."""
        category, language, duration, channel = (
            np.asarray(v).item() for v in (category, language, duration, channel))
        return self.encode({"category": category or None, "language": language or None,
                            "duration": None if duration < 0 else float(duration),
                            "channel": channel or None})
