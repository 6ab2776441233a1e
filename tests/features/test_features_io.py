"""Feature files: YouTube-8M SequenceExample layout, atomic writes, our reader, YT8M's spec."""
import os

import numpy as np
import tensorflow as tf

from model.features.pca import dequantize
from model.features.codec import FeatureRecord, read_feature_file, tfrecord_payloads
from transforms.features_io import iter_features, write_features


def record(rgb, **kw):
    base = dict(video_id="vid_1", rgb=rgb, timestamps_s=[float(i) for i in range(len(rgb))],
                duration_s=float(len(rgb)), embedder_name="inception_v3",
                embedder_version="keras-3;seeded:1", embedder_backend="keras-fp32",
                embedder_precision="fp32", sampling="head;fps=1;max_frames=300;size=299")
    base.update(kw)
    return FeatureRecord(**base)


def test_quantised_file_parses_with_yt8m_reader_spec(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 1024), dtype=np.uint8)
    path = write_features(str(tmp_path / "vid_1.tfrecord"), record(rgb, labels=[5, 2], pca="pca.npz",
                          meta={"category": "Sports", "language": "en", "duration": 7.0, "channel": "c1"}))
    assert os.listdir(tmp_path) == ["vid_1.tfrecord"]  # no temporary left behind
    # YouTube-8M's frame reader (readers.py, YT8MFrameFeatureReader.prepare_serialized_examples)
    serialized = next(iter(tf.data.TFRecordDataset(path)))
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={"id": tf.io.FixedLenFeature([], tf.string),
                          "labels": tf.io.VarLenFeature(tf.int64)},
        sequence_features={"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string)})
    assert context["id"].numpy() == b"vid_1"
    assert tf.sparse.to_dense(context["labels"]).numpy().tolist() == [2, 5]
    decoded = tf.reshape(tf.cast(tf.io.decode_raw(sequence["rgb"], tf.uint8), tf.float32), [-1, 1024])
    assert decoded.shape == (7, 1024)
    np.testing.assert_array_equal(decoded.numpy().astype(np.uint8), rgb)
    # our reader: dequantised frames and the full context
    parsed = read_feature_file(path)
    assert parsed.video_id == "vid_1" and parsed.num_frames == 7 and parsed.labels == (2, 5)
    np.testing.assert_array_equal(parsed.raw, rgb)
    np.testing.assert_allclose(parsed.frames, dequantize(rgb))
    ctx = parsed.context
    assert ctx["rgb_encoding"] == "uint8" and ctx["rgb_dim"] == 1024 and ctx["pca"] == "pca.npz"
    assert ctx["timestamps_s"] == [float(i) for i in range(7)] and ctx["duration_s"] == 7.0
    assert ctx["meta_category"] == "Sports" and ctx["meta_language"] == "en"
    assert ctx["meta_duration"] == 7.0 and ctx["meta_channel"] == "c1"
    assert ctx["embedder_backend"] == "keras-fp32" and ctx["sampling"].startswith("head;")


def test_float16_file_round_trips(tmp_path):
    feats = np.random.default_rng(1).random((3, 2048), dtype=np.float32) * 5
    write_features(str(tmp_path / "a.tfrecord"), record(feats.astype(np.float16), video_id="a"))
    write_features(str(tmp_path / "b.tfrecord"), record(feats[:2].astype(np.float16), video_id="b"))
    got = list(iter_features(str(tmp_path / "*.tfrecord")))
    assert [(i, n) for i, _, n in got] == [("a", 3), ("b", 2)]
    assert got[0][1].dtype == np.float32
    np.testing.assert_array_equal(got[0][1], feats.astype(np.float16).astype(np.float32))
    parsed = read_feature_file(str(tmp_path / "a.tfrecord"))
    assert parsed.context["rgb_encoding"] == "float16" and parsed.labels is None
    # float16 little-endian bytes per frame, readable with tf.io.decode_raw(..., tf.float16)
    data = open(tmp_path / "a.tfrecord", "rb").read()
    assert len(list(tfrecord_payloads(data))) == 1


def test_rewrite_replaces_atomically(tmp_path):
    path = str(tmp_path / "v.tfrecord")
    write_features(path, record(np.zeros((2, 8), np.uint8), video_id="v"))
    write_features(path, record(np.ones((3, 8), np.uint8), video_id="v"))
    assert read_feature_file(path).num_frames == 3
    assert os.listdir(tmp_path) == ["v.tfrecord"]


def test_our_sequence_example_is_tensorflows_on_the_wire():
    """The codec writes without TensorFlow (its own copy of the proto); the bytes are the same
    message to TensorFlow, both ways, every feature kind included."""
    from model.features.codec import parse_sequence_example, sequence_example

    rng = np.random.default_rng(3)
    ours = sequence_example("v", rng.integers(0, 256, (4, 8), dtype=np.uint8), labels=[3, 1],
                            audio=rng.integers(0, 256, (4, 128), dtype=np.uint8),
                            metadata={"category": "Music", "duration": 12.5},
                            context={"timestamps_s": [0.0, 1.0, 2.0, 3.0], "sampling": "head"})
    assert type(ours).__module__ == "model.features.sequence_example_pb2"
    theirs = tf.train.SequenceExample.FromString(ours.SerializeToString())
    assert theirs.context.feature["labels"].int64_list.value == [1, 3]
    assert theirs.context.feature["meta_duration"].float_list.value == [12.5]
    assert len(theirs.feature_lists.feature_list["audio"].feature) == 4
    assert theirs.SerializeToString(deterministic=True) == ours.SerializeToString(deterministic=True)
    back = parse_sequence_example(theirs.SerializeToString())  # TensorFlow's bytes, our reader
    assert back.video_id == "v" and back.labels == (1, 3) and back.num_frames == 4
    assert back.context["meta_category"] == "Music" and back.context["sampling"] == "head"
