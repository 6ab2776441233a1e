"""Task: the one element a job's steps pass along; its paths come from the one path function."""
import dataclasses

import pytest

from jobgraph.config import DataIO
from jobgraph.ids import InvalidElementId
from jobgraph.message import new_message
from jobgraph.routing import data_path
from jobgraph.task import Task


@dataclasses.dataclass
class _Job:  # the JobConfig attributes Task.of reads
    data_input: DataIO | None
    data_output: DataIO | None
    id_pattern: str = r"^[a-z0-9]+$"


def test_paths_are_the_runtime_data_paths_with_the_configured_suffixes():
    job = _Job(DataIO("file", "in/", ".mov"), DataIO("gcs", "gs://b/out", ".features.tfr"))
    task = Task.of(new_message("v1", top_down=True), job)
    assert task.element_id == "v1"
    assert task.input_path == data_path(job.data_input, "v1") == "in/v1.mov"
    assert task.output_path == data_path(job.data_output, "v1") == "gs://b/out/v1.features.tfr"
    assert Task.of(new_message("v2", top_down=True), _Job(None, None)).input_path is None


def test_an_invalid_id_never_becomes_a_path():
    with pytest.raises(InvalidElementId):
        Task.of(new_message("../up", top_down=True), _Job(DataIO("file", "in"), None))


def test_with_payload_copies_the_message_and_leaves_the_task_as_it_was():
    msg = new_message("v1", top_down=True, payload=b"upload")
    task = Task.of(msg, _Job(None, DataIO("file", "out", ".json")))
    done = task.with_payload(b"labels")
    assert done.message.data.payload == b"labels" and done.message.data.element == b"v1"
    assert task.message.data.payload == b"upload" and msg.data.payload == b"upload"
    assert done.output_path == task.output_path
    bare = Task("v3", None, None)
    assert bare.with_payload(b"x") is bare
