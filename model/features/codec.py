"""Feature files: the one format contract between the features job, the classifier and training.

One tf.train.SequenceExample per video in YouTube-8M's frame-level layout (a feature file holds
one; a training file may hold many), framed as TFRecord records. Written and read with
sequence_example_pb2 (proto/sequence_example.proto: TensorFlow's wire layout under a package of
our own), so workers never import TensorFlow for it.

Context:
  id            bytes    video id
  labels        int64[]  class indices, only when known (sorted)
  rgb_encoding  bytes    b"uint8" (PCA-whitened, quantised as YT8M) or b"float16" (raw pool
                         features, little-endian). Absent = public YouTube-8M: uint8.
  rgb_dim       int64    values per frame (1024 with the default PCA, 2048 without); absent in
                         public YouTube-8M files
  timestamps_s  float[]  presentation time of each frame, seconds after the first frame
  duration_s    float    video duration in seconds
  embedder_name, embedder_version, embedder_backend, embedder_precision   bytes
  sampling      bytes    sampling policy, e.g. b"head;fps=1;max_frames=300;size=299"
  pca           bytes    identifier of the PCA used (only with rgb_encoding uint8)
  meta_category, meta_language, meta_channel  bytes; meta_duration float   (upload metadata)
  audio_source  bytes    with an audio list: b"stream" (heard), b"none" (the video has no audio
                         stream: the list is the embedding of silence) or b"undecodable"
  audio_decode_errors   int64   audio packets skipped because they failed to decode
  audio_timestamps_s    float[] where each audio row's 0.96 s start (its sampling target's time)
  audio_embedder_name, audio_embedder_version, audio_embedder_backend   bytes
Feature lists:
  rgb           one bytes feature per frame: rgb_dim uint8 values, or rgb_dim float16 values
  audio         optional, one bytes feature per frame (the audio of the 0.96 s from that
                frame's sampling time): 128 uint8 values, PCA-whitened and quantised (YT8M audio)
"""
from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import google_crc32c
import numpy as np

from model.features.pca import dequantize, quantize
from model.features.sequence_example_pb2 import SequenceExample  # tf.train's wire layout, without TF

ENCODINGS = ("uint8", "float16")
RGB, AUDIO = "rgb", "audio"
METADATA_KEYS = ("category", "language", "duration", "channel")   # upload metadata, in this order
METADATA_CONTEXT = {key: f"meta_{key}" for key in METADATA_KEYS}  # key -> context feature
LIST_CONTEXT = ("labels", "timestamps_s", "audio_timestamps_s")                         # context keys read as lists


def sequence_example(video_id: str, rgb: np.ndarray, *, encoding: str = "uint8",
                     labels: Sequence[int] | None = None, audio: np.ndarray | None = None,
                     metadata: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None,
                     write_encoding: bool = True):
    """One video's tf.train.SequenceExample.

    rgb: uint8[T, D] (already quantised) or float[T, D] (quantised here for "uint8", cast for
    "float16"). audio: uint8[T, 128] or float (quantised). metadata: METADATA_KEYS (or their
    `meta_` names); None values are left out. context: further context features (str -> bytes,
    float or float sequence -> floats). write_encoding=False writes public-YT8M layout (no
    rgb_encoding / rgb_dim; uint8 only).
    """
    rows = _frame_rows(np.asarray(rgb), encoding, write_encoding)
    example = SequenceExample()
    features = example.context.feature
    features["id"].bytes_list.value.append(video_id.encode("utf-8"))
    if write_encoding:
        features["rgb_encoding"].bytes_list.value.append(encoding.encode("ascii"))
        features["rgb_dim"].int64_list.value.append(int(np.asarray(rgb).shape[1]))
    for key, value in (context or {}).items():
        _set_context(features[key], value)
    if labels is not None:
        features["labels"].int64_list.value.extend(sorted(int(x) for x in labels))
    for key, value in _metadata_context(metadata or {}).items():
        _set_context(features[key], value)
    lists = example.feature_lists.feature_list
    for row in rows:
        lists[RGB].feature.add().bytes_list.value.append(row)
    if audio is not None:
        for row in _frame_rows(np.asarray(audio), "uint8", True):
            lists[AUDIO].feature.add().bytes_list.value.append(row)
    return example


def _frame_rows(frames: np.ndarray, encoding: str, write_encoding: bool) -> list[bytes]:
    if frames.ndim != 2:
        raise ValueError(f"frames: expected [frames, dim], got shape {frames.shape}")
    if encoding == "uint8":
        codes = frames if frames.dtype == np.uint8 else quantize(frames)
        return [row.tobytes() for row in codes]
    if encoding == "float16":
        if not write_encoding:
            raise ValueError("float16 frames need rgb_encoding in the context (write_encoding=True)")
        return [row.tobytes() for row in frames.astype("<f2")]
    raise ValueError(f"encoding: expected 'uint8' or 'float16', got {encoding!r}")


def _metadata_context(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Upload metadata as context features: duration a float, the others text."""
    out = {}
    for key, value in metadata.items():
        plain = key[len("meta_"):] if key.startswith("meta_") else key
        if plain not in METADATA_CONTEXT:
            raise ValueError(f"metadata: unknown key {key!r}; expected some of {list(METADATA_KEYS)}")
        if value is not None:
            out[METADATA_CONTEXT[plain]] = [float(value)] if plain == "duration" else str(value)
    return out


def _set_context(feature, value) -> None:
    if isinstance(value, (str, bytes)):
        feature.bytes_list.value.append(value.encode("utf-8") if isinstance(value, str) else value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        feature.int64_list.value.append(int(value))
    elif isinstance(value, (float, np.floating)):
        feature.float_list.value.append(float(value))
    else:
        feature.float_list.value.extend(float(v) for v in value)


@dataclasses.dataclass(frozen=True)
class FeatureRecord:
    """One video's features as the features job writes them. `rgb`: uint8[T,D] or float16[T,D]."""

    video_id: str
    rgb: np.ndarray
    timestamps_s: Sequence[float]
    duration_s: float
    embedder_name: str
    embedder_version: str
    embedder_backend: str
    embedder_precision: str
    sampling: str
    labels: Sequence[int] | None = None
    pca: str | None = None
    meta: Mapping[str, object] = dataclasses.field(default_factory=dict)
    audio: np.ndarray | None = None  # uint8[T,128], or float32[T,128] quantised when written
    audio_context: Mapping[str, object] = dataclasses.field(default_factory=dict)  # audio_* keys

    @property
    def encoding(self) -> str:
        return "uint8" if self.rgb.dtype == np.uint8 else "float16"

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])


def record_example(record: FeatureRecord):
    """The record as a tf.train.SequenceExample (see the module docstring for the keys)."""
    rgb = record.rgb
    if rgb.ndim != 2 or rgb.dtype not in (np.uint8, np.float16):
        raise ValueError(f"rgb must be uint8 or float16 [T, D], got {rgb.dtype}{list(rgb.shape)}")
    if len(record.timestamps_s) != rgb.shape[0]:
        raise ValueError(f"{len(record.timestamps_s)} timestamps for {rgb.shape[0]} frames")
    if record.audio is not None and (record.audio.ndim != 2 or len(record.audio) != len(rgb)):
        raise ValueError(f"audio must be [T, D] with one row per frame ({len(rgb)}), "
                         f"got {list(record.audio.shape)}")
    context = {"timestamps_s": [float(t) for t in record.timestamps_s],
               "duration_s": float(record.duration_s),
               "embedder_name": record.embedder_name, "embedder_version": record.embedder_version,
               "embedder_backend": record.embedder_backend,
               "embedder_precision": record.embedder_precision, "sampling": record.sampling}
    if record.pca is not None:
        context["pca"] = record.pca
    if record.audio is not None:
        context.update(record.audio_context)
    return sequence_example(record.video_id, rgb, encoding=record.encoding, labels=record.labels,
                            metadata=record.meta, context=context, audio=record.audio)


def encode_record(record: FeatureRecord) -> bytes:
    """A feature file's bytes: the record's SequenceExample as one TFRecord record."""
    return tfrecord_frame(record_example(record).SerializeToString())


# ---- TFRecord framing ----------------------------------------------------------------------

def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(payload: bytes) -> bytes:
    """One TFRecord record: length, masked CRC32C of the length, payload, masked CRC32C."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked_crc(length)) + payload
            + struct.pack("<I", _masked_crc(payload)))


def tfrecord_payloads(data: bytes) -> Iterator[bytes]:
    """Payloads of the TFRecord records in `data`, CRCs checked."""
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated TFRecord header")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if crc != _masked_crc(header):
            raise ValueError("TFRecord length CRC mismatch")
        payload = data[pos + 12:pos + 12 + length]
        if len(payload) != length or pos + 16 + length > len(data):
            raise ValueError("truncated TFRecord payload")
        (crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if crc != _masked_crc(payload):
            raise ValueError("TFRecord payload CRC mismatch")
        yield payload
        pos += 16 + length


# ---- reading one file ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FeatureFile:
    """A parsed feature file. `frames`: float32[T,D] (dequantised when stored as uint8);
    `raw`: the stored values, uint8[T,D] or float16[T,D]; `context`: every context key;
    `audio`: float32[T,128] dequantised and `audio_raw` uint8[T,128] when the file has an
    audio list, else None."""

    video_id: str
    frames: np.ndarray
    raw: np.ndarray
    num_frames: int
    labels: tuple[int, ...] | None
    context: dict
    audio: np.ndarray | None = None
    audio_raw: np.ndarray | None = None


def _context_values(example) -> dict:
    context = {}
    for key, feature in example.context.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            values = [v.decode("utf-8", "replace") for v in values]
        context[key] = values if key in LIST_CONTEXT else (values[0] if values else None)
    return context


def parse_sequence_example(payload: bytes) -> FeatureFile:
    """Parse one serialized SequenceExample of this layout (eagerly, with numpy)."""
    example = SequenceExample.FromString(payload)
    context = _context_values(example)
    encoding = context.get("rgb_encoding", "uint8")
    dim = context.get("rgb_dim")
    dtype = np.uint8 if encoding == "uint8" else np.dtype("<f2")
    rows = [np.frombuffer(f.bytes_list.value[0], dtype=dtype)
            for f in example.feature_lists.feature_list[RGB].feature]
    raw = np.stack(rows) if rows else np.zeros((0, dim or 0), dtype)
    if dim is not None and raw.shape[1] != dim:
        raise ValueError(f"rgb rows have {raw.shape[1]} values, rgb_dim says {dim}")
    frames = dequantize(raw) if encoding == "uint8" else raw.astype(np.float32)
    labels = tuple(context["labels"]) if "labels" in context else None
    audio_raw = _audio_rows(example, len(raw))
    return FeatureFile(video_id=context.get("id", ""), frames=frames, raw=raw,
                       num_frames=int(raw.shape[0]), labels=labels, context=context,
                       audio=None if audio_raw is None else dequantize(audio_raw),
                       audio_raw=audio_raw)


def _audio_rows(example, frames: int) -> np.ndarray | None:
    """uint8[T, D] of the audio list (None without one); one row per rgb frame."""
    if AUDIO not in example.feature_lists.feature_list:
        return None
    rows = [np.frombuffer(f.bytes_list.value[0], dtype=np.uint8)
            for f in example.feature_lists.feature_list[AUDIO].feature]
    if len(rows) != frames or len({len(r) for r in rows}) > 1:
        raise ValueError(f"audio list has {len(rows)} rows of sizes "
                         f"{sorted({len(r) for r in rows})} for {frames} frames")
    return np.stack(rows) if rows else np.zeros((0, 0), np.uint8)


def read_feature_file(path: str) -> FeatureFile:
    """The (single) video in the feature file at `path` (any Beam FileSystems path)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    payloads = list(tfrecord_payloads(data))
    if len(payloads) != 1:
        raise ValueError(f"{path}: expected one record, found {len(payloads)}")
    return parse_sequence_example(payloads[0])
