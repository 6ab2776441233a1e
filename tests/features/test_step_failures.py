"""No exception leaves a step: a failure injected at each step of both jobs (storage checks,
reads, metadata, model calls, writes) becomes one dead letter for that element, with the step
and a stable reason, and the step goes on with the next element. Steps are called directly, as
Beam calls them; failures are injected by replacing a dependency with one that raises."""
from __future__ import annotations

import json

import numpy as np
import pytest
from apache_beam.pvalue import TaggedOutput

from jobgraph import deadletter
from jobgraph.message import new_message
from transforms import classify, extract
from jobgraph.task import Task
from model.classifier.handler import VideoInput
from transforms.classify import ClassifyConfig, ReadFeatures, WriteLabels
from transforms.extract import CheckExisting, FeaturesConfig, VideoSample, WriteFeatures
from model.features.codec import FeatureRecord
from transforms.features_io import write_features


def _only_dead_letter(outputs) -> "DeadLetter":  # noqa: F821
    outputs = list(outputs)
    assert len(outputs) == 1 and isinstance(outputs[0], TaggedOutput), outputs
    assert outputs[0].tag == "dead_letter"
    return outputs[0].value


def _feature_file(directory, video_id: str) -> None:
    write_features(f"{directory}/{video_id}.tfrecord", FeatureRecord(
        video_id=video_id, rgb=np.full((2, 8), 128, np.uint8), timestamps_s=(0.0, 1.0),
        duration_s=2.0, embedder_name="test", embedder_version="0", embedder_backend="none",
        embedder_precision="fp32", sampling="fps=1"))


# ---- video-features ----------------------------------------------------------------------

def test_existence_check_that_raises(tmp_path, monkeypatch):
    def broken(path):
        raise OSError("storage unreachable")
    monkeypatch.setattr(extract.FileSystems, "exists", broken)
    step = CheckExisting(FeaturesConfig())
    letter = _only_dead_letter(step.process(Task("v1", str(tmp_path / "v1.mp4"), str(tmp_path / "v1.tfrecord"))))
    assert (letter.element, letter.stage, letter.reason) == ("v1", "check-existing", "existence-check-failed")


def test_feature_write_that_fails(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    step = WriteFeatures(FeaturesConfig())
    step.setup()
    sample = VideoSample(Task("v1", "v1.mp4", str(blocker / "v1.tfrecord")), (0.0,), 1.0)
    letter = _only_dead_letter(step.process((sample, np.zeros((1, 2048), np.float32))))
    assert (letter.element, letter.stage, letter.reason) == ("v1", "write", "write-error")


# ---- video-iab ---------------------------------------------------------------------------

def _classify_config(tmp_path, **changes) -> ClassifyConfig:
    return ClassifyConfig(**{"job_name": "video-iab", "model_dir": str(tmp_path / "model"), **changes})


def _task(tmp_path, video_id: str = "v1", payload: bytes = b"") -> Task:
    """The task the job would make of a message for `video_id` (features in, labels out)."""
    return Task(video_id, str(tmp_path / "features" / f"{video_id}.tfrecord"),
                str(tmp_path / "labels" / f"{video_id}.json"),
                new_message(video_id, top_down=True, payload=payload))


def test_feature_read_that_fails(tmp_path):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "v1.tfrecord").write_bytes(b"\x00garbage")
    letter = _only_dead_letter(ReadFeatures(_classify_config(tmp_path)).process(_task(tmp_path)))
    assert (letter.element, letter.stage, letter.reason) == ("v1", "read-features", "bad-feature-file")


@pytest.mark.parametrize("payload", [b"[" * 5000 + b"]" * 5000, b'{"metadata": ' + b"{" * 40 + b"}" * 40 + b"}"])
def test_metadata_that_fails(tmp_path, payload):
    _feature_file(tmp_path / "features", "v1")
    step = ReadFeatures(_classify_config(tmp_path))
    letter = _only_dead_letter(step.process(_task(tmp_path, payload=payload)))
    assert (letter.element, letter.stage, letter.reason) == ("v1", "metadata", "bad-metadata")
    # the next element goes through
    [(_, video)] = list(step.process(_task(tmp_path, payload=b'{"category": "news"}')))
    assert video.metadata["category"] == "news" and video.metadata_source == "payload"


def test_metadata_sidecar_read_that_raises(tmp_path, monkeypatch):
    _feature_file(tmp_path / "features", "v1")
    def broken(path, limit=None):
        raise OSError("disk gone")
    monkeypatch.setattr(classify.storage, "read_bytes", broken)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "v1.json").write_text("{}")
    step = ReadFeatures(_classify_config(tmp_path, metadata_location=str(tmp_path / "meta")))
    letter = _only_dead_letter(step.process(_task(tmp_path)))
    assert (letter.stage, letter.reason) == ("metadata", "bad-metadata")


def _prediction() -> dict:
    return {"labels": [{"id": "1", "name": "x", "tier_path": ["x"], "score": 0.9}], "top_k": [],
            "model": {"name": "m", "version": "v"}, "taxonomy": "t"}


def _scored(tmp_path, video_id: str = "v1"):
    video = VideoInput(video_id, np.zeros((1, 8), np.float32), 1, {}, "unknown")
    return _task(tmp_path, video_id), video, _prediction()


def test_labels_write_that_fails(tmp_path):
    (tmp_path / "labels").write_text("a file where the labels folder should be")
    letter = _only_dead_letter(WriteLabels(_classify_config(tmp_path)).process(_scored(tmp_path)))
    assert (letter.element, letter.stage, letter.reason) == ("v1", "write-labels", "write-error")


def test_textual_labels_that_fail(tmp_path):
    (tmp_path / "textual").mkdir()
    (tmp_path / "textual" / "v1.json").write_bytes(b'{"labels": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    step = WriteLabels(_classify_config(tmp_path, textual_location=str(tmp_path / "textual")))
    letter = _only_dead_letter(step.process(_scored(tmp_path)))
    assert (letter.stage, letter.reason) == ("textual-labels", "bad-metadata")
    [task] = list(step.process(_scored(tmp_path, "v2")))  # the next one is written
    assert json.loads((tmp_path / "labels" / "v2.json").read_text())["video_id"] == "v2"
    assert task.message.data.element == b"v2"
    assert json.loads(task.message.data.payload)["labels_path"] == task.output_path


def test_textual_labels_that_are_a_fifo_are_bad_metadata_not_a_write_error(tmp_path):
    import os

    (tmp_path / "textual").mkdir()
    os.mkfifo(tmp_path / "textual" / "v1.json")  # opening it would block forever
    step = WriteLabels(_classify_config(tmp_path, textual_location=str(tmp_path / "textual")))
    letter = _only_dead_letter(step.process(_scored(tmp_path)))
    assert (letter.stage, letter.reason) == ("textual-labels", "bad-metadata")


def test_model_call_that_fails_is_one_dead_letter_per_video(tmp_path):
    """RunInference hands a failed batch to this converter (with_exception_handling)."""
    batch = [_scored(tmp_path, "v1")[:2], _scored(tmp_path, "v2")[:2]]
    convert = deadletter.failed_batches("video-iab", "classify", "classify-error", classify._task_id)
    letters = list(convert((batch, RuntimeError("model broke"))))
    assert [(d.element, d.stage, d.reason) for d in letters] == [
        ("v1", "classify", "classify-error"), ("v2", "classify", "classify-error")]
