"""Audio on the synthetic set: look-alike classes told apart by their audio, and a two-stream
NeXtVLAD (video + audio + metadata) that learns them where the video-only model cannot.

Two small models are trained once per module (about 20 s on 2 CPU cores).
"""
import dataclasses
import json

import numpy as np
import pytest

from model.classifier import data, metrics, synthetic, train
from model.classifier.config import builtin_config_path, load_config
from model.features.codec import parse_sequence_example, tfrecord_payloads

SPEC = synthetic.SyntheticSpec(num_videos=500, seed=1, audio_classes=4, audio_feature_size=128)


def test_audio_kind_classes_come_last_in_pairs():
    assert SPEC.num_classes == 16
    assert SPEC.classes_of(synthetic.AUDIO_KIND) == [12, 13, 14, 15]
    assert SPEC.audio_pairs == [(12, 13), (14, 15)]
    assert synthetic.SyntheticSpec().classes_of(synthetic.METADATA_KIND) == [10, 11]


@pytest.mark.parametrize("kwargs", [{"audio_classes": 3, "audio_feature_size": 8},
                                    {"audio_classes": 2},
                                    {"audio_feature_size": -1}])
def test_bad_audio_specs_are_refused(kwargs):
    with pytest.raises(ValueError, match="audio"):
        synthetic.SyntheticSpec(**kwargs)


def test_without_audio_classes_adding_audio_changes_no_other_draw():
    plain = synthetic.generate_videos(synthetic.SyntheticSpec(num_videos=60, seed=4))
    with_audio = synthetic.generate_videos(
        synthetic.SyntheticSpec(num_videos=60, seed=4, audio_feature_size=16))
    for a, b in zip(plain, with_audio, strict=True):
        assert (a.video_id, a.labels, a.metadata) == (b.video_id, b.labels, b.metadata)
        np.testing.assert_array_equal(a.rgb, b.rgb)
        assert a.audio is None
        assert b.audio.shape == (len(b.rgb), 16) and b.audio.dtype == np.float32


def test_a_look_alike_pair_differs_only_in_audio():
    videos = synthetic.generate_videos(SPEC)
    first, second = SPEC.audio_pairs[0]

    def mean_of(label, stream):
        rows = [getattr(v, stream) for v in videos if v.labels == [label]]
        return np.concatenate(rows).mean(axis=0)

    def gap(stream):
        return float(np.abs(mean_of(first, stream) - mean_of(second, stream)).mean())

    assert gap("audio") > 3 * gap("rgb")


def _records(files):
    return [parse_sequence_example(p) for f in files for p in tfrecord_payloads(open(f, "rb").read())]


def test_audio_list_written_only_with_an_audio_size(tmp_path):
    spec = synthetic.SyntheticSpec(num_videos=20, seed=2, min_frames=10, max_frames=12,
                                   sparse_frames=(2, 3))
    plain = synthetic.write_dataset(str(tmp_path / "plain"), spec, shards=1)
    audio = synthetic.write_dataset(str(tmp_path / "audio"),
                                    dataclasses.replace(spec, audio_feature_size=32), shards=1)
    for name in ("train", "test"):
        for a, b in zip(_records(plain[name]), _records(audio[name]), strict=True):
            assert a.audio is None
            assert b.audio_raw.shape == (b.num_frames, 32)
            np.testing.assert_array_equal(a.raw, b.raw)
    doc = json.load(open(tmp_path / "audio" / "classes.json"))
    assert doc["spec"]["audio_feature_size"] == 32 and doc["audio_pairs"] == []


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-stream")
    files = synthetic.write_dataset(str(root / "data"), SPEC, splits={"train": 0.7, "test": 0.3})
    assert json.load(open(root / "data" / "classes.json"))["audio_pairs"] == [[12, 13], [14, 15]]
    config = load_config(builtin_config_path("synthetic-demo-audio.yaml"))
    config = config.replace(train=dataclasses.replace(config.train, epochs=5))
    out = {}
    for name, cfg in {"two_stream": config, "video_only": config.replace(audio=None)}.items():
        result = train.train(cfg, files["train"], str(root / name))
        test = data.read_examples(files["test"], cfg)
        scores = train.predict_arrays(result.model, test, cfg)
        out[name] = metrics.class_average_precisions(scores, test["labels"], 20)
    return out


def test_two_stream_config_has_an_audio_stream():
    config = load_config(builtin_config_path("synthetic-demo-audio.yaml"))
    assert config.audio.feature_size == SPEC.audio_feature_size
    assert config.num_classes == SPEC.num_classes
    best = load_config(builtin_config_path("yt8m-nextvlad-best.yaml"))
    assert (best.audio.feature_size, best.audio.cluster_size, best.audio.groups) == (128, 64, 4)


def test_two_stream_model_tells_look_alike_classes_apart(trained):
    audio = SPEC.classes_of(synthetic.AUDIO_KIND)
    two, video = np.mean(trained["two_stream"][audio]), np.mean(trained["video_only"][audio])
    assert two >= 0.9, (two, video)
    assert two - video >= 0.2, (two, video)


def test_two_stream_model_keeps_the_visual_classes(trained):
    dense = SPEC.classes_of(synthetic.DENSE)
    assert np.mean(trained["two_stream"][dense]) >= 0.95
    visual = dense + SPEC.classes_of(synthetic.SPARSE)
    assert np.mean(trained["two_stream"][visual]) >= np.mean(trained["video_only"][visual]) - 0.1


def test_synth_cli_writes_audio_classes(tmp_path):
    from click.testing import CliRunner

    from model.cli import model as model_cli

    result = CliRunner().invoke(model_cli, ["synth", "--out", str(tmp_path / "d"), "--videos", "30",
                                            "--audio-classes", "2", "--audio-dim", "8"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kinds"][-2:] == ["audio", "audio"]
    bad = CliRunner().invoke(model_cli, ["synth", "--out", str(tmp_path / "e"), "--audio-classes", "2"])
    assert bad.exit_code == 1 and "audio_feature_size" in bad.output
