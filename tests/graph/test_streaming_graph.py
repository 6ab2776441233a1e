"""The video graph streaming on Google's Pub/Sub emulator with generated videos:
upload events in, label files and downstream messages out; reprocess with Klio's flags."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests import servers
from tests.graph.streaming_graph_setup import render_graph_config
from tests.jobgraph import toygraph
from tests.pubsub_helpers import Collector, messages
from transforms.synthetic_video import VideoSpec, write_video

pytestmark = pytest.mark.emulator
PROJECT = "video-e2e"
IDS = [f"up{i:02d}" for i in range(20)]
OWN = ["bu01", "force01", "alive01", "meta01"]  # one video per test that needs its own (tests are independent)


@pytest.fixture(scope="module")
def graph(pubsub_emulator, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("video-streaming"))
    os.makedirs(f"{root}/videos")
    for i, element in enumerate(IDS + ["pingme"] + OWN):
        write_video(f"{root}/videos/{element}.mp4", VideoSpec(
            content="scene", category=i % 4, seed=7000 + i, duration_s=2.0, fps=10.0, width=96, height=64))
    config = render_graph_config(root, PROJECT)
    args = ["-c", config]
    toygraph.klio("job", "verify", "--create-resources", *args)
    labels_topic = Collector(PROJECT, "video-iab-labels", "e2e-downstream")
    dead = Collector(PROJECT, "video-iab-dead-letter", "e2e-dead")
    log = open(f"{root}/pipelines.log", "wb")
    proc = subprocess.Popen([toygraph.KLIO, "job", "run", "--direct-runner", "--streaming", *args,
                             "--summary-json", f"{root}/counters-{{job}}.json"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=toygraph.REPO,
                            start_new_session=True, env=dict(os.environ))
    labels_topic.watch(proc, f"{root}/pipelines.log")
    dead.watch(proc, f"{root}/pipelines.log")
    try:
        yield {"root": root, "args": args, "out": labels_topic, "dead": dead, "proc": proc,
               "log": f"{root}/pipelines.log"}
    finally:
        servers.stop(proc)
        log.close()


def publish(graph, *argv, job="video-features"):
    return toygraph.klio("message", "publish", "--job", job, *argv, *graph["args"])


def labels(graph, element):
    return json.load(open(f"{graph['root']}/out/labels/{element}.json"))


def test_20_upload_events_give_20_label_files_and_20_downstream_messages(graph):
    graph["out"].received.clear()
    publish(graph, "--top-down", "--payload", json.dumps({"category": "sports", "language": "en"}), *IDS)
    mine = lambda raw: [m for m in messages(raw) if m.data.element.decode() in IDS]  # noqa: E731
    received = graph["out"].pull(until=lambda r: len(mine(r)) >= 20, timeout=600, quiet_s=5)
    elements = sorted(m.data.element.decode() for m in mine(received))
    assert elements == IDS, open(graph["log"]).read()[-4000:]  # each once: nothing failed
    labels_written = [n for n in os.listdir(f"{graph['root']}/out/labels") if n[:-5] in IDS]
    assert sorted(labels_written) == [f"{i}.json" for i in IDS]
    doc = labels(graph, "up00")
    assert doc["video_id"] == "up00" and doc["frames_used"] == 2 and doc["metadata_source"] == "payload"
    payload = json.loads(mine(received)[0].data.payload)
    assert "labels" in payload and payload["labels_path"].endswith(".json")
    from jobgraph.deadletter import DeadLetter

    letters = [DeadLetter.from_json(x) for x in graph["dead"].pull(quiet_s=1, timeout=5)]
    assert [d for d in letters if d.element in IDS] == []


def _label_one(graph, element):
    """Publish one upload of `element` and wait for its downstream message."""
    graph["out"].received.clear()
    publish(graph, "--top-down", element)
    graph["out"].pull(until=lambda r: any(m.data.element == element.encode() for m in messages(r)),
                      timeout=300)
    graph["out"].received.clear()


def test_bottom_up_with_features_missing_regenerates_features_then_labels(graph):
    graph["out"].received.clear()
    features = f"{graph['root']}/out/features/bu01.tfrecord"
    assert not os.path.exists(features)  # its video was never published
    publish(graph, "--bottom-up", "bu01", job="video-iab")
    received = graph["out"].pull(until=lambda r: len(r) >= 1, timeout=300)
    [msg] = messages(received)
    assert os.path.exists(features) and labels(graph, "bu01")["video_id"] == "bu01"
    limited = msg.metadata.intended_recipients.limited
    # still limited to the two jobs: any job below video-iab drops it (nothing downstream runs)
    assert sorted(j.job_name for j in limited.recipients) == ["video-features", "video-iab"]
    assert not limited.HasField("trigger_children_of")
    assert [i.klio_job.job_name for i in msg.metadata.job_audit_log] == ["video-iab", "video-features", "video-iab"]


def test_top_down_force_reprocesses_through_the_whole_graph(graph):
    _label_one(graph, "force01")
    before_features = os.stat(f"{graph['root']}/out/features/force01.tfrecord").st_mtime_ns
    before_labels = labels(graph, "force01")["created_at"]
    publish(graph, "--top-down", "--force", "force01")
    received = graph["out"].pull(until=lambda r: len(r) >= 1, timeout=300)
    assert [m.data.element for m in messages(received)] == [b"force01"]
    assert os.stat(f"{graph['root']}/out/features/force01.tfrecord").st_mtime_ns > before_features
    assert labels(graph, "force01")["created_at"] > before_labels


def live_counters(graph, job):
    """The running job's counters (its process rewrites this file every 5 s)."""
    path = f"{graph['root']}/counters-{job}.json"
    return json.load(open(path))["counters"].get(job, {}) if os.path.exists(path) else {}


def wait_for_counter(graph, job, name, value, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live_counters(graph, job).get(name, 0) >= value:
            return live_counters(graph, job)
        time.sleep(1.0)
    raise AssertionError(f"{job} {name} < {value}: {live_counters(graph, job)}")


def test_ping_traces_both_jobs_without_work(graph):
    graph["out"].received.clear()
    time.sleep(6)  # let both processes write their current counters
    before = {job: live_counters(graph, job) for job in ("video-features", "video-iab")}
    publish(graph, "--top-down", "--ping", "pingme")
    received = graph["out"].pull(until=lambda r: len(r) >= 1, timeout=300)
    [msg] = messages(received)
    assert msg.metadata.ping
    assert [i.klio_job.job_name for i in msg.metadata.job_audit_log] == ["video-features", "video-iab"]
    assert not os.path.exists(f"{graph['root']}/out/features/pingme.tfrecord")
    assert not os.path.exists(f"{graph['root']}/out/labels/pingme.json")
    for job in ("video-features", "video-iab"):  # counters show the ping and no work
        after = wait_for_counter(graph, job, "kmsg-skip-ping", before[job].get("kmsg-skip-ping", 0) + 1)
        assert after.get("kmsg-success", 0) == before[job].get("kmsg-success", 0)


def test_bad_messages_end_as_dead_letters_or_counted_drops_and_graph_keeps_running(graph):
    from google.cloud import pubsub_v1

    from jobgraph.deadletter import DeadLetter
    from jobgraph.message import job_identity, new_message

    uploads = f"projects/{PROJECT}/topics/video-uploads"
    graph["dead"].received.clear()
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(uploads, b"\x00\xffgarbage bytes").result()
    publisher.publish(uploads, new_message("../../etc/passwd", top_down=True).SerializeToString()).result()
    publisher.publish(uploads, new_message("notmine", job=job_identity("another-job", PROJECT))
                      .SerializeToString()).result()   # for another job: dropped, not processed
    publisher.publish(uploads, new_message("novideo", top_down=True).SerializeToString()).result()
    letters = [DeadLetter.from_json(x) for x in graph["dead"].pull(until=lambda r: len(r) >= 3, timeout=300)]
    by_reason = sorted((d.job, d.stage, d.reason) for d in letters)
    assert by_reason == [("video-features", "input-missing", "input-missing"),
                         ("video-features", "parse", "unparseable-message"),
                         ("video-features", "validate-id", "invalid-id")], by_reason
    assert not os.path.exists(f"{graph['root']}/out/features/notmine.tfrecord")
    # still running: a good upload goes all the way through
    graph["out"].received.clear()
    publish(graph, "--top-down", "--force", "alive01")
    received = graph["out"].pull(until=lambda r: len(r) >= 1, timeout=300)
    assert [m.data.element for m in messages(received)] == [b"alive01"]
    assert graph["proc"].poll() is None


def test_batch_relabel_keeps_the_upload_payload_metadata(graph):
    """Relabelling in batch (no payload: e.g. after a model update) keeps the metadata the
    upload event carried: video-features stored it with the features."""
    graph["out"].received.clear()
    publish(graph, "--top-down", "--payload", json.dumps({"category": "news", "language": "fr"}), "meta01")
    graph["out"].pull(until=lambda r: any(m.data.element == b"meta01" for m in messages(r)), timeout=300)
    assert labels(graph, "meta01")["metadata_source"] == "payload"
    os.remove(f"{graph['root']}/out/labels/meta01.json")
    toygraph.klio("job", "run", "--direct-runner", "--batch", "--job", "video-iab", *graph["args"], "meta01",
                  timeout=600)
    assert labels(graph, "meta01")["metadata_source"] == "payload"
