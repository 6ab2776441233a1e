"""The TFRecord contract: quantisation, encodings, padding, labels, metadata, clear errors."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from model.classifier import data
from model.features.codec import sequence_example
from model.features.pca import dequantize, quantize
from model.classifier.config import MetadataConfig, ModelConfig, StreamConfig
from model.classifier.metadata import MetadataEncoder, channel_bucket


def config(dim=4, max_frames=5, classes=6, **changes) -> ModelConfig:
    base = ModelConfig(name="t", num_classes=classes, rgb=StreamConfig(dim, 2, 2, 2),
                       max_frames=max_frames, hidden_size=4, gating_reduction=2)
    return dataclasses.replace(base, **changes)


def parse(example, cfg):
    return data.decode_example(example.SerializeToString(), cfg)


def test_dequantize_and_quantize_match_youtube8m():
    np.testing.assert_allclose(dequantize(np.array([0, 128, 255], np.uint8)),
                               [-1.9921875, 0.0156556373, 2.0078125], atol=2e-7)  # float32
    codes = quantize(np.array([-3, -2, -1, 0, 0.5, 1, 2, 3]))
    np.testing.assert_array_equal(codes, [0, 0, 64, 128, 159, 191, 255, 255])
    np.testing.assert_allclose(dequantize(codes), [-1.9921875, -1.9921875, -0.98826587,
                               0.01565564, 0.50193024, 1.00389099, 2.0078125, 2.0078125], atol=2e-7)
    x = np.linspace(-2, 2, 1001)
    assert np.max(np.abs(dequantize(quantize(x)) - x)) < 0.0158
    tensor = dequantize(tf.constant([0, 128, 255], tf.uint8)).numpy()
    np.testing.assert_allclose(tensor, [-1.9921875, 0.0156556373, 2.0078125], atol=2e-7)  # float32


def test_uint8_frames_are_dequantised_padded_and_counted():
    cfg = config()
    codes = np.array([[0, 128, 255, 64], [1, 2, 3, 4], [200, 100, 50, 25]], np.uint8)
    out = parse(sequence_example("v1", codes, labels=[5, 0]), cfg)
    assert out["id"] == "v1" and out["num_frames"] == 3
    np.testing.assert_allclose(out["rgb"][:3], dequantize(codes), rtol=1e-6)
    np.testing.assert_array_equal(out["rgb"][3:], 0.0)
    np.testing.assert_array_equal(out["labels"], [1, 0, 0, 0, 0, 1])


def test_float16_frames_and_truncation_to_max_frames():
    cfg = config(max_frames=4)
    frames = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    out = parse(sequence_example("v2", frames, encoding="float16"), cfg)
    assert out["num_frames"] == 4
    np.testing.assert_array_equal(out["rgb"], frames[:4].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(out["labels"], 0.0)  # no labels: all-zero multi-hot


def test_public_youtube8m_layout_without_encoding_fields_and_with_audio():
    cfg = config(dim=1024, audio=StreamConfig(128, 2, 2, 2))
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(3, 1024)).astype(np.uint8)
    audio = rng.integers(0, 256, size=(3, 128)).astype(np.uint8)
    example = sequence_example("yt", rgb, audio=audio, labels=[2], write_encoding=False)
    assert "rgb_encoding" not in example.context.feature
    out = parse(example, cfg)
    np.testing.assert_allclose(out["rgb"][:3], dequantize(rgb), rtol=1e-6)
    np.testing.assert_allclose(out["audio"][:3], dequantize(audio), rtol=1e-6)
    np.testing.assert_array_equal(out["audio"][3:], 0.0)


def test_wrong_frame_size_is_a_clear_error():
    cfg = config(dim=4)
    example = sequence_example("bad", np.zeros((2, 8), np.uint8), write_encoding=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="feature_size 4"):
        parse(example, cfg)
    with pytest.raises(tf.errors.InvalidArgumentError, match="rgb_dim"):
        parse(sequence_example("bad", np.zeros((2, 8), np.uint8)), cfg)


def test_label_out_of_range_and_unknown_encoding_are_clear_errors():
    cfg = config(classes=3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 3\)"):
        parse(sequence_example("v", np.zeros((1, 4), np.uint8), labels=[3]), cfg)
    example = sequence_example("v", np.zeros((1, 4), np.uint8))
    example.context.feature["rgb_encoding"].bytes_list.value[0] = b"jpeg"
    with pytest.raises(tf.errors.InvalidArgumentError, match="rgb_encoding"):
        parse(example, cfg)
    with pytest.raises(ValueError, match="encoding"):
        sequence_example("v", np.zeros((1, 4)), encoding="int4")


def test_missing_audio_is_a_clear_error():
    cfg = config(audio=StreamConfig(128, 2, 2, 2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio"):
        parse(sequence_example("v", np.zeros((1, 4), np.uint8)), cfg)


def test_metadata_from_context_equals_encoder_on_the_dict():
    meta = MetadataConfig(categories=("Sports", "Music"), languages=("en", "de"), duration=True,
                          channel_buckets=16)
    cfg = config(metadata=meta)
    record = {"category": "music", "language": "fr", "duration": 125.0, "channel": "UCabc"}
    out = parse(sequence_example("v", np.zeros((2, 4), np.uint8), metadata=record), cfg)
    encoded = MetadataEncoder(meta).encode(record)
    np.testing.assert_allclose(out["metadata"], encoded, rtol=1e-6)
    # layout: category one-hot [unknown, sports, music], language [unknown, en, de],
    # duration [log1p(s)/8, missing], channel bucket one-hot
    np.testing.assert_array_equal(encoded[:3], [0, 0, 1])
    np.testing.assert_array_equal(encoded[3:6], [1, 0, 0])
    assert encoded[6] == pytest.approx(np.log1p(125.0) / 8) and encoded[7] == 0
    assert encoded[8 + channel_bucket("UCabc", 16)] == 1 and encoded[8:].sum() == 1
    missing = parse(sequence_example("w", np.zeros((2, 4), np.uint8)), cfg)["metadata"]
    np.testing.assert_array_equal(missing, MetadataEncoder(meta).encode({}))
    assert missing[0] == 1 and missing[3] == 1 and missing[7] == 1 and missing[8:].sum() == 0


def test_metadata_encoder_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown key"):
        MetadataEncoder(MetadataConfig(duration=True)).encode({"title": "x"})


def test_dataset_batches_files(tmp_path):
    cfg = config()
    path = str(tmp_path / "part.tfrecord")
    rng = np.random.default_rng(0)
    n = data.write_tfrecord(path, (sequence_example(f"v{i}", rng.integers(0, 256, (i + 1, 4))
                                                              .astype(np.uint8), labels=[i % 6])
                                   for i in range(7)))
    assert n == 7
    everything = data.read_examples([str(tmp_path / "*.tfrecord")], cfg, batch_size=3)
    assert everything["rgb"].shape == (7, 5, 4)
    np.testing.assert_array_equal(everything["num_frames"], [1, 2, 3, 4, 5, 5, 5])
    assert list(everything["id"]) == [f"v{i}".encode() for i in range(7)]
    with pytest.raises(ValueError, match="no TFRecord file matches"):
        data.list_files([str(tmp_path / "nothing-*")])
