"""Feature files: one TFRecord holding one tf.train.SequenceExample per video, YouTube-8M layout.

Context (every key the model side may rely on):
  id            bytes    video id
  labels        int64[]  class indices, only when known (sorted)
  rgb_encoding  bytes    b"uint8" (PCA-whitened, quantised as YT8M) or b"float16" (raw pool features)
  rgb_dim       int64    values per frame (1024 with the default PCA, 2048 without)
  timestamps_s  float[]  presentation time of each frame, seconds after the first frame
  duration_s    float    video duration in seconds
  embedder_name, embedder_version, embedder_backend, embedder_precision   bytes
  sampling      bytes    sampling policy, e.g. b"head;fps=1;max_frames=300;size=299"
  pca           bytes    identifier of the PCA used (only with rgb_encoding uint8)
  meta_category, meta_language, meta_channel  bytes; meta_duration float   (optional upload metadata)
Feature list:
  rgb           one bytes feature per frame: rgb_dim uint8 values, or rgb_dim float16 little-endian

Files are written atomically (temporary name, then rename) through Beam FileSystems.
"""
from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator, Mapping, Sequence

import google_crc32c
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from jobgraph.storage import is_temporary, write_atomically

ENCODINGS = ("uint8", "float16")
_META_BYTES = ("meta_category", "meta_language", "meta_channel")


@dataclasses.dataclass(frozen=True)
class FeatureRecord:
    """One video's features. `rgb`: uint8[T,D] (quantised) or float16[T,D]."""

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

    @property
    def encoding(self) -> str:
        return "uint8" if self.rgb.dtype == np.uint8 else "float16"

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])


def to_sequence_example(record: FeatureRecord):
    """The record as a tf.train.SequenceExample (see the module docstring for the keys)."""
    import tensorflow as tf

    rgb = record.rgb
    if rgb.ndim != 2 or rgb.dtype not in (np.uint8, np.float16):
        raise ValueError(f"rgb must be uint8 or float16 [T, D], got {rgb.dtype}{list(rgb.shape)}")
    if len(record.timestamps_s) != rgb.shape[0]:
        raise ValueError(f"{len(record.timestamps_s)} timestamps for {rgb.shape[0]} frames")

    def b(value: str | bytes):
        data = value.encode() if isinstance(value, str) else value
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))

    def fl(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

    def i64(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    context = {
        "id": b(record.video_id), "rgb_encoding": b(record.encoding), "rgb_dim": i64([rgb.shape[1]]),
        "timestamps_s": fl(record.timestamps_s), "duration_s": fl([record.duration_s]),
        "embedder_name": b(record.embedder_name), "embedder_version": b(record.embedder_version),
        "embedder_backend": b(record.embedder_backend),
        "embedder_precision": b(record.embedder_precision), "sampling": b(record.sampling),
    }
    if record.labels is not None:
        context["labels"] = i64(sorted(int(x) for x in record.labels))
    if record.pca is not None:
        context["pca"] = b(record.pca)
    for key, value in record.meta.items():
        name = key if key.startswith("meta_") else f"meta_{key}"
        if name == "meta_duration":
            context[name] = fl([float(value)])
        elif name in _META_BYTES:
            context[name] = b(str(value))
        else:
            raise ValueError(f"unknown metadata key {key!r}")
    little = rgb.astype(rgb.dtype.newbyteorder("<"), copy=False)
    frames = [tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()])) for row in little]
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(
            feature_list={"rgb": tf.train.FeatureList(feature=frames)}))


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


# ---- files ---------------------------------------------------------------------------------

def write_atomic(path: str, data: bytes) -> None:
    """Write `data` to `path` (any FileSystems path) so readers see all of it or nothing."""
    write_atomically(path, data)


def write_features(path: str, record: FeatureRecord) -> str:
    """Write `record` as a one-record TFRecord file at `path`, atomically; returns `path`."""
    write_atomic(path, tfrecord_frame(to_sequence_example(record).SerializeToString()))
    return path


@dataclasses.dataclass(frozen=True)
class FeatureFile:
    """A parsed feature file. `frames`: float32[T,D] (dequantised when stored as uint8);
    `raw`: the stored values, uint8[T,D] or float16[T,D]; `context`: every context key."""

    video_id: str
    frames: np.ndarray
    raw: np.ndarray
    num_frames: int
    labels: tuple[int, ...] | None
    context: dict


def parse_sequence_example(payload: bytes) -> FeatureFile:
    """Parse one serialized SequenceExample written by `to_sequence_example`."""
    import tensorflow as tf

    from model.pca import dequantize

    example = tf.train.SequenceExample.FromString(payload)
    context = {}
    for key, feature in example.context.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            values = [v.decode("utf-8", "replace") for v in values]
        context[key] = values if key in ("labels", "timestamps_s") else (values[0] if values else None)
    encoding = context.get("rgb_encoding", "uint8")
    dim = context.get("rgb_dim")
    dtype = np.uint8 if encoding == "uint8" else np.dtype("<f2")
    rows = [np.frombuffer(f.bytes_list.value[0], dtype=dtype)
            for f in example.feature_lists.feature_list["rgb"].feature]
    raw = np.stack(rows) if rows else np.zeros((0, dim or 0), dtype)
    if dim is not None and raw.shape[1] != dim:
        raise ValueError(f"rgb rows have {raw.shape[1]} values, rgb_dim says {dim}")
    frames = dequantize(raw) if encoding == "uint8" else raw.astype(np.float32)
    labels = tuple(context["labels"]) if "labels" in context else None
    return FeatureFile(video_id=context.get("id", ""), frames=frames, raw=raw,
                       num_frames=int(raw.shape[0]), labels=labels, context=context)


def read_feature_file(path: str) -> FeatureFile:
    """The (single) video in the feature file at `path` (any FileSystems path)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    payloads = list(tfrecord_payloads(data))
    if len(payloads) != 1:
        raise ValueError(f"{path}: expected one record, found {len(payloads)}")
    return parse_sequence_example(payloads[0])


def iter_features(pattern: str) -> Iterator[tuple[str, np.ndarray, int]]:
    """(id, frames float32[T,D], num_frames) for each feature file matching `pattern`, in path order."""
    for path in matching_paths(pattern):
        parsed = read_feature_file(path)
        yield parsed.video_id, parsed.frames, parsed.num_frames


def matching_paths(pattern: str) -> list[str]:
    """Sorted paths FileSystems matches for `pattern` (a glob), temporary files of writes left out."""
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list if not is_temporary(m.path))
