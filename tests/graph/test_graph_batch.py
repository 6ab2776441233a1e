"""The whole video graph in batch, in this process (the `klio` CLI through click's runner; the
seeded Inception on OpenVINO from the tests' conversion cache, so each run loads it in about a
second): bad inputs end as dead letters with their reason, gs:// locations against
gcp-storage-emulator, and the bottom-up fill of `--job video-iab`."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from jobgraph.cli import cli
from tests.graph.helpers import (CONFIG, dead_letters, files_under, location_overrides,
                                 openvino_embedder_overrides)
from transforms import synthetic_video as sv


def klio_job_run(*args: str, summary: str) -> tuple[str, dict]:
    """`klio job run --direct-runner -c klio-job.yaml ARGS` in this process -> (stdout, counters)."""
    result = CliRunner().invoke(cli, ["job", "run", "--direct-runner", "-c", CONFIG,
                                      *openvino_embedder_overrides(), *args, "--summary-json", summary],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output[-4000:]
    with open(summary, encoding="utf-8") as fh:
        return result.output, json.load(fh)["counters"]


def scene(path: str, seed: int = 0, **fields) -> str:
    spec = dict(content="scene", category=seed % 6, seed=seed, duration_s=2.0, fps=5.0, width=64, height=48)
    spec.update(fields)
    return sv.write_video(path, sv.VideoSpec(**spec)).path


# ---- bad inputs ---------------------------------------------------------------------------

BAD_VIDEOS = {  # id -> expected dead-letter reason in video-features
    "corrupt": "corrupt", "truncated": "truncated", "empty": "empty-file", "notvideo": "not-a-video",
    "audioonly": "no-video-stream", "oversized": "frame-too-large", "missing": "input-missing",
}
BAD_IDS = ["bad id!", "../escape", "a/../../escape2", "..", "x" * 200, "-leading-dash"]


def test_bad_inputs_end_as_dead_letters_and_nothing_leaves_the_roots(tmp_path):
    work = tmp_path / "work"
    root = work / "root"
    videos = root / "videos"
    videos.mkdir(parents=True)
    (work / "sentinel.txt").write_text("outside the roots\n")
    v = lambda name: str(videos / f"{name}.mp4")  # noqa: E731
    scene(v("good"), seed=1)
    source = sv.write_video(str(tmp_path / "source.mp4"), sv.VideoSpec(duration_s=4.0)).path  # 64x48
    sv.corrupt_file(source, v("corrupt"), start_fraction=0.2, length_fraction=0.5)
    sv.truncate_file(source, v("truncated"), 0.5)
    sv.write_zero_bytes(v("empty"))
    sv.write_not_a_video(v("notvideo"))
    sv.write_audio_only(v("audioonly"))
    scene(v("oversized"), seed=2, width=320, height=240)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(["good", *BAD_VIDEOS, *BAD_IDS]) + "\n")

    out, counters = klio_job_run(*location_overrides(str(root)),
                                 "-O", f"video-features:job_config.decode.max_pixels={64 * 48}",
                                 "--batch-input", str(ids_file), summary=str(tmp_path / "s.json"))
    assert "klio job run: DONE" in out

    letters = {job: dead_letters(str(root / "dead-letter" / job)) for job in ("video-features", "video-iab")}
    assert letters["video-iab"] == []
    by_element = {}
    for record in letters["video-features"]:
        assert record["element"] not in by_element, f"two dead letters for {record['element']!r}"
        assert record["job"] == "video-features" and record["message"] and record["stage"]
        by_element[record["element"]] = record
    expected = {**BAD_VIDEOS, **{i: "invalid-id" for i in BAD_IDS}}
    assert {e[:200]: r["reason"] for e, r in by_element.items()} == expected

    features = counters["video-features"]
    assert features["kmsg-received"] == 1 + len(expected)
    assert features["kmsg-success"] == 1 and features["dead-letter"] == len(expected)
    for reason in set(expected.values()):
        assert features[f"dead-letter:{reason}"] == list(expected.values()).count(reason)
    assert counters["video-iab"]["kmsg-received"] == 1 and counters["video-iab"]["kmsg-success"] == 1

    # Only the good video produced outputs, and nothing was written outside the configured roots.
    assert files_under(str(root / "features")) == ["good.tfrecord"]
    assert files_under(str(root / "labels")) == ["good.json"]
    assert sorted(os.listdir(root)) == ["dead-letter", "events", "features", "labels", "videos"]
    assert sorted(os.listdir(work)) == ["root", "sentinel.txt"]
    assert not [f for f in files_under(str(tmp_path)) if "escape" in f]


# ---- gs:// ----------------------------------------------------------------------------------

@pytest.mark.emulator
def test_graph_on_gs_paths_writes_labels_as_objects(gcs_emulator, tmp_path):
    from google.cloud import storage

    client = storage.Client(project="test-project")
    bucket = client.bucket("test-bucket")
    for blob in list(client.list_blobs("test-bucket", prefix="graph/")):
        blob.delete()
    ids = ["gs1", "gs2", "gs3"]
    for i, vid in enumerate(ids):
        bucket.blob(f"graph/videos/{vid}.mp4").upload_from_filename(scene(str(tmp_path / f"{vid}.mp4"), seed=i))
    bucket.blob("graph/metadata/gs1.json").upload_from_string(json.dumps({"category": "sports", "language": "en"}))

    out, counters = klio_job_run(*location_overrides("gs://test-bucket/graph"), summary=str(tmp_path / "s.json"))
    assert counters["video-features"]["kmsg-success"] == 3 and counters["video-iab"]["kmsg-success"] == 3

    names = sorted(b.name for b in client.list_blobs("test-bucket", prefix="graph/"))
    assert [n for n in names if n.startswith("graph/labels/")] == [f"graph/labels/{v}.json" for v in ids]
    assert [n for n in names if n.startswith("graph/features/")] == [f"graph/features/{v}.tfrecord" for v in ids]
    assert not [n for n in names if ".tmp-" in n]
    for vid in ids:
        doc = json.loads(bucket.blob(f"graph/labels/{vid}.json").download_as_bytes())
        assert doc["video_id"] == vid and doc["frames_used"] == 2
        assert doc["metadata_source"] == ("sidecar" if vid == "gs1" else "unknown")
    assert not [n for n in names if n.startswith("graph/dead-letter/") and
                bucket.blob(n).download_as_bytes().strip()]


# ---- bottom-up fill -------------------------------------------------------------------------

def test_job_video_iab_alone_regenerates_missing_features_then_labels(tmp_path):
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    scene(str(root / "videos" / "bu1.mp4"), seed=3)
    assert not (root / "features").exists()

    out, counters = klio_job_run(*location_overrides(str(root)), "--job", "video-iab", "bu1", "nothere",
                                 summary=str(tmp_path / "s.json"))
    assert files_under(str(root / "features")) == ["bu1.tfrecord"]
    assert files_under(str(root / "labels")) == ["bu1.json"]
    iab, features = counters["video-iab"], counters["video-features"]
    assert iab["kmsg-trigger-upstream"] == 2          # both IDs had no feature file
    assert features["kmsg-success"] == 1 and iab["kmsg-success"] == 1
    # the video of "nothere" does not exist either: a dead letter of video-features, not a loop
    records = dead_letters(str(root / "dead-letter" / "video-features"))
    assert [(r["element"], r["reason"]) for r in records] == [("nothere", "input-missing")]
    with open(root / "labels" / "bu1.json", encoding="utf-8") as fh:
        assert json.load(fh)["video_id"] == "bu1"


# ---- file suffixes ----------------------------------------------------------------------------

def test_configured_suffixes_are_honoured_by_the_checks_and_the_writers(tmp_path):
    """Every data path comes from one function: with other suffixes the jobs read and write the
    configured names, and a rerun finds each output where the writer put it (all skipped)."""
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    for i, vid in enumerate(("sfx1", "sfx2")):
        scene(str(root / "videos" / f"{vid}.mov"), seed=i)
    suffixes = ["-O", "video-features:job_config.data.inputs.0.file_suffix=.mov",
                "-O", "video-features:job_config.data.outputs.0.file_suffix=.features.tfr",
                "-O", "video-iab:job_config.data.inputs.0.file_suffix=.features.tfr",
                "-O", "video-iab:job_config.data.outputs.0.file_suffix=.labels.json"]
    args = [*location_overrides(str(root)), *suffixes]
    _, first = klio_job_run(*args, summary=str(tmp_path / "first.json"))
    assert files_under(str(root / "features")) == ["sfx1.features.tfr", "sfx2.features.tfr"]
    assert files_under(str(root / "labels")) == ["sfx1.labels.json", "sfx2.labels.json"]
    assert first["video-features"]["kmsg-success"] == 2 and first["video-iab"]["kmsg-success"] == 2
    with open(root / "labels" / "sfx1.labels.json", encoding="utf-8") as fh:
        assert json.load(fh)["video_id"] == "sfx1"

    _, rerun = klio_job_run(*args, summary=str(tmp_path / "rerun.json"))
    for job in ("video-features", "video-iab"):
        assert rerun[job]["kmsg-skip-force"] == 2 and "kmsg-success" not in rerun[job], rerun[job]
