"""The training / evaluation reader of YouTube-8M frame-level TFRecords, as a tf.data pipeline.

The layout is model.features.codec's (one SequenceExample per video, a file may hold many;
public YouTube-8M files lack rgb_encoding / rgb_dim and mean uint8, rgb_dim 1024). Reading
keeps the first <= max_frames frames, zero-pads to max_frames and records num_frames, as
YT8MFrameFeatureReader; uint8 is dequantised by the one `dequantize` (YT8M utils.Dequantize).
No reverse whitening is applied: the model learns on the whitened values, as YouTube-8M's
models do. Any other encoding, a frame of the wrong size or a
label outside [0, num_classes) fails with an InvalidArgumentError naming the problem.

This reader runs inside TensorFlow's graph (tf.data, at training scale); the features job's
one-file reader is model.features.codec.parse_sequence_example (numpy, for serving).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from model.classifier.config import AUDIO, METADATA, NUM_FRAMES, RGB, ModelConfig
from model.classifier.metadata import MetadataEncoder
from model.features.codec import METADATA_CONTEXT, tfrecord_frame
from model.features.pca import dequantize

UINT8, FLOAT16 = b"uint8", b"float16"
LABELS, VIDEO_ID = "labels", "id"


def write_tfrecord(path: str, examples: Iterable) -> int:
    """Write tf.train.SequenceExamples (model.features.codec.sequence_example) to one TFRecord
    file (local or gs://); returns how many."""
    from apache_beam.io.filesystems import FileSystems

    records = [tfrecord_frame(example.SerializeToString()) for example in examples]
    with FileSystems.create(path) as fh:
        fh.write(b"".join(records))
    return len(records)


# ---------------------------------------------------------------------------------- reading

_CONTEXT_SPEC = {
    VIDEO_ID: tf.io.FixedLenFeature([], tf.string, default_value=""),
    LABELS: tf.io.VarLenFeature(tf.int64),
    "rgb_encoding": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "rgb_dim": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    **{name: (tf.io.FixedLenFeature([], tf.float32, default_value=-1.0) if key == "duration"
              else tf.io.FixedLenFeature([], tf.string, default_value=""))
       for key, name in METADATA_CONTEXT.items()},
}


def _decode_frames(raw: tf.Tensor, encoding: tf.Tensor, dim: int, max_frames: int,
                   name: str) -> tuple[tf.Tensor, tf.Tensor]:
    """bytes[n] -> (float32[max_frames, dim] zero-padded, int32 num_frames)."""
    raw = raw[:max_frames]
    count = tf.shape(raw)[0]

    def decode(dtype, element_bytes):
        values = tf.io.decode_raw(raw, dtype, little_endian=True)            # (n, L)
        tf.debugging.assert_equal(
            tf.logical_or(tf.equal(count, 0), tf.equal(tf.shape(values)[1], dim)), True,
            message=f"{name}: frame size does not match the model's {name} feature_size {dim} "
                    f"({dim * element_bytes} bytes per frame expected)")
        return tf.reshape(tf.cast(values, tf.float32), [count, dim])

    def unknown():
        check = tf.debugging.Assert(
            False, [f"{name}: rgb_encoding must be b'uint8' or b'float16', got", encoding])
        with tf.control_dependencies([check] if check is not None else []):
            return tf.zeros([count, dim])

    frames = tf.case([(tf.equal(encoding, UINT8), lambda: dequantize(decode(tf.uint8, 1))),
                      (tf.equal(encoding, FLOAT16), lambda: decode(tf.float16, 2))],
                     default=unknown, exclusive=True)
    frames = tf.pad(frames, [[0, max_frames - count], [0, 0]])
    frames.set_shape([max_frames, dim])
    return frames, count


def parse_example(serialized: tf.Tensor, config: ModelConfig) -> dict[str, tf.Tensor]:
    """One serialized SequenceExample -> dict of tensors for `config`:

    rgb float32[T, N], num_frames int32[], audio float32[T, 128] (if config.audio),
    metadata float32[M] (if the metadata branch is on), labels float32[C] multi-hot, id string[].
    T = config.max_frames.
    """
    sequence_spec = {RGB: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
                     AUDIO: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True)}
    context, sequences = tf.io.parse_single_sequence_example(serialized, _CONTEXT_SPEC,
                                                             sequence_spec)
    dim = config.rgb.feature_size
    encoding = tf.where(tf.equal(context["rgb_encoding"], b""), UINT8, context["rgb_encoding"])
    tf.debugging.assert_equal(
        tf.logical_or(tf.equal(context["rgb_dim"], 0), tf.equal(context["rgb_dim"], dim)), True,
        message=f"rgb_dim of the example does not match the model's rgb.feature_size {dim}")
    rgb, num_frames = _decode_frames(sequences[RGB], encoding, dim, config.max_frames, "rgb")
    out = {RGB: rgb, NUM_FRAMES: tf.cast(num_frames, tf.int32), VIDEO_ID: context[VIDEO_ID]}
    if config.audio is not None:
        audio_raw = sequences[AUDIO]
        tf.debugging.assert_equal(tf.shape(audio_raw)[0] > 0, True,
                                  message="audio: the model has an audio stream but the example "
                                          "has no 'audio' feature_list")
        audio, _ = _decode_frames(audio_raw[:num_frames], tf.constant(UINT8),
                                  config.audio.feature_size, config.max_frames, "audio")
        out[AUDIO] = audio
    if config.metadata_enabled:
        encoder = MetadataEncoder(config.metadata)
        metadata = tf.numpy_function(
            lambda c, l, d, ch: encoder.encode_context(c, l, float(d), ch),
            [context[METADATA_CONTEXT[key]] for key in ("category", "language", "duration", "channel")],
            tf.float32, stateful=False)
        metadata.set_shape([encoder.width])
        out[METADATA] = metadata
    labels = context[LABELS].values
    tf.debugging.assert_equal(
        tf.reduce_all((labels >= 0) & (labels < config.num_classes)), True,
        message=f"labels: every label must be a class index in [0, {config.num_classes})")
    out[LABELS] = tf.minimum(tf.reduce_sum(tf.one_hot(labels, config.num_classes), axis=0), 1.0)
    return out


def list_files(patterns: Sequence[str] | str) -> list[str]:
    """Expand file patterns (local or gs://); a pattern matching nothing is an error."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files: list[str] = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise ValueError(f"no TFRecord file matches {pattern!r}")
        files.extend(matched)
    return files


def make_dataset(patterns: Sequence[str] | str, config: ModelConfig, batch_size: int, *,
                 shuffle: bool = False, repeat: bool = False, seed: int = 0,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batched dicts (see `parse_example`) from TFRecord file patterns.

    shuffle: shuffle files and examples (buffer config.train.shuffle_buffer), seeded; the order
    is reproducible for a given seed.
    """
    files = list_files(patterns)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        dataset = dataset.shuffle(config.train.shuffle_buffer, seed=seed,
                                  reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(lambda s: parse_example(s, config), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def for_keras(dataset: tf.data.Dataset, config: ModelConfig) -> tf.data.Dataset:
    """(inputs dict, labels float32[B, C]) pairs for Model.fit / predict."""
    names = config.input_names
    return dataset.map(lambda e: ({k: e[k] for k in names}, e[LABELS]))


def decode_example(serialized: bytes, config: ModelConfig) -> dict[str, np.ndarray]:
    """Eager numpy version of `parse_example` for one record (e.g. in the classify job)."""
    parsed = parse_example(tf.constant(serialized), config)
    out = {k: v.numpy() for k, v in parsed.items()}
    out[VIDEO_ID] = out[VIDEO_ID].decode("utf-8")
    return out


def read_examples(patterns: Sequence[str] | str, config: ModelConfig,
                  batch_size: int = 256) -> dict[str, np.ndarray]:
    """Whole dataset in memory (ids, labels, inputs) - for evaluation and calibration."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in make_dataset(patterns, config, batch_size):
        for key, value in batch.items():
            parts.setdefault(key, []).append(value.numpy())
    if not parts:
        raise ValueError(f"no examples in {patterns!r}")
    return {k: np.concatenate(v) for k, v in parts.items()}
