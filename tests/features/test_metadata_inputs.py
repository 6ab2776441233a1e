"""Upload metadata from payloads and sidecars: hostile documents are BadMetadata (a dead letter
of reason `bad-metadata` for that video), odd values become unknown, nothing raises anything else."""
from __future__ import annotations

import json
import os

import pytest

from transforms.classify import merge_textual
from transforms.upload_metadata import (MAX_METADATA_BYTES, BadMetadata, clean_metadata,
                                        metadata_from_message, metadata_from_payload,
                                        metadata_from_sidecar)

NESTED = b"[" * 5000 + b"]" * 5000  # deeper than Python's recursion limit, under the size limit


def test_deeply_nested_payload_is_bad_metadata_not_recursion_error():
    with pytest.raises(BadMetadata, match="nested deeper"):
        metadata_from_payload(NESTED)
    with pytest.raises(BadMetadata, match="nested deeper"):
        metadata_from_payload(b'{"metadata": ' + NESTED + b"}")


def test_oversized_payload_is_bad_metadata():
    payload = json.dumps({"category": "x" * (MAX_METADATA_BYTES + 1)}).encode()
    with pytest.raises(BadMetadata, match="over the limit"):
        metadata_from_payload(payload)


def test_payload_that_is_not_json_is_someone_elses_payload():
    assert metadata_from_payload(b"labels summary: 3") is None
    assert metadata_from_payload(b"{not json") is None
    assert metadata_from_payload(json.dumps({"category": "news"}).encode()) == {"category": "news"}


@pytest.mark.parametrize("duration", [10 ** 400, -1, float("inf"), float("nan"), True, "12"])
def test_out_of_range_duration_becomes_unknown(duration):
    assert clean_metadata({"duration": duration, "category": "news"}) == {"category": "news"}


def test_sane_metadata_is_kept():
    assert clean_metadata({"duration": 61, "language": "en", "channel": "c", "x": 1}) == {
        "duration": 61.0, "language": "en", "channel": "c"}


def test_sidecar_fifo_device_and_huge_files_are_bad_metadata(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")  # opening it would block forever
    os.symlink("/dev/zero", tmp_path / "zero.json")  # reading it would never end
    (tmp_path / "big.json").write_bytes(b'{"category": "' + b"x" * (2 * MAX_METADATA_BYTES) + b'"}')
    (tmp_path / "nested.json").write_bytes(NESTED)
    (tmp_path / "list.json").write_text("[1, 2]")
    for name, match in [("fifo", "not a regular file"), ("zero", "not a regular file"),
                        ("big", "more than"), ("nested", "nested deeper"), ("list", "not a JSON object")]:
        with pytest.raises(BadMetadata, match=match):
            metadata_from_sidecar(str(tmp_path), name)
    assert metadata_from_sidecar(str(tmp_path), "absent") is None


def test_textual_labels_with_odd_scores_merge_without_error():
    merged = merge_textual([{"id": "1", "score": 0.9}],
                           [{"id": "2", "score": "high"}, {"id": "1", "score": 10 ** 400}, "junk"])
    assert [m["id"] for m in merged] == ["1", "2"]
    assert merged[0]["source"] == "visual+textual" and merged[0]["textual_score"] is None
    assert merged[1]["score"] is None


def test_metadata_from_message_is_what_video_features_stores():
    from jobgraph.message import new_message

    msg = new_message("v1", top_down=True, payload=b'{"category": "news", "duration": 12, "x": 1}')
    assert metadata_from_message(msg) == {"category": "news", "duration": 12.0}
    hostile = new_message("v1", top_down=True, payload=b"[" * 5000 + b"]" * 5000)
    assert metadata_from_message(hostile) == {}
    not_json = new_message("v1", top_down=True, payload=b"\xff not json")
    assert metadata_from_message(not_json) == {}


def test_batch_message_uses_the_payload_metadata_stored_with_the_features(tmp_path):
    """A batch run has no payload: the upload's metadata that video-features stored wins over a
    sidecar, so relabelling the catalogue keeps what the upload said."""
    import numpy as np

    from jobgraph.message import new_message
    from jobgraph.task import Task
    from transforms.classify import ClassifyConfig, ReadFeatures
    from model.features.codec import FeatureRecord
    from transforms.features_io import write_features

    write_features(str(tmp_path / "features" / "v1.tfrecord"), FeatureRecord(
        video_id="v1", rgb=np.full((2, 8), 128, np.uint8), timestamps_s=(0.0, 1.0), duration_s=2.0,
        embedder_name="t", embedder_version="0", embedder_backend="none", embedder_precision="fp32",
        sampling="fps=1", meta={"category": "news", "language": "fr"}))
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "v1.json").write_text(json.dumps({"category": "sidecar-says"}))
    step = ReadFeatures(ClassifyConfig(job_name="video-iab", model_dir="unused",
                                       metadata_location=str(tmp_path / "meta")))

    def task(payload=b""):
        return Task("v1", str(tmp_path / "features" / "v1.tfrecord"), str(tmp_path / "labels" / "v1.json"),
                    new_message("v1", top_down=True, payload=payload))

    [(_, video)] = list(step.process(task()))
    assert video.metadata_source == "payload"
    assert video.metadata["category"] == "news" and video.metadata["language"] == "fr"
    [(_, video)] = list(step.process(task(payload=b'{"category": "sports"}')))
    assert video.metadata["category"] == "sports"  # a message's own payload still wins


def test_hostile_sidecars_cost_bounded_time_and_memory(tmp_path):
    """Each hostile sidecar is refused in a child process whose peak memory stays far below 2 GB
    and which takes well under 60 s (a /dev/zero link once grew a reader to 3.7 GB)."""
    import subprocess
    import sys

    os.mkfifo(tmp_path / "fifo.json")
    os.symlink("/dev/zero", tmp_path / "zero.json")
    (tmp_path / "big.json").write_bytes(b'{"category": "' + b"x" * (200 * 2**20) + b'"}')
    (tmp_path / "nested.json").write_bytes(NESTED)
    script = (
        "import sys, time\n"
        "from transforms.upload_metadata import BadMetadata, metadata_from_sidecar\n"
        "for name in ('fifo', 'zero', 'big', 'nested'):\n"
        "    start = time.monotonic()\n"
        "    try:\n"
        "        metadata_from_sidecar(sys.argv[1], name)\n"
        "        print(name, 'accepted')\n"
        "    except BadMetadata:\n"
        "        print(name, 'refused', round(time.monotonic() - start, 3))\n"
        "print('peak', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    lines = proc.stdout.split("\n")
    results = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    assert all(results[name][0] == "refused" and float(results[name][1]) < 60
               for name in ("fifo", "zero", "big", "nested")), proc.stdout + proc.stderr
    assert int(results["peak"][0]) < 2 * 2**20  # kB: under 2 GB
