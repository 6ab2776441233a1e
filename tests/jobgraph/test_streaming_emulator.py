"""The toy graph streaming on Google's Pub/Sub emulator: both jobs in one streaming pipeline
(`klio job run --streaming --direct-runner`), driven by `klio message publish`."""
from __future__ import annotations

import json
import os
import subprocess
import pytest
from google.cloud import pubsub_v1

from jobgraph.deadletter import DeadLetter
from tests import servers
from tests.pubsub_helpers import Collector as _Collector, messages
from tests.jobgraph import toygraph

pytestmark = pytest.mark.emulator

PROJECT = toygraph.PROJECT


def topic(name):
    return f"projects/{PROJECT}/topics/{name}"


def Collector(topic_name, sub_name):
    return _Collector(PROJECT, topic_name, sub_name)


@pytest.fixture(scope="module")
def graph(pubsub_emulator, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy-streaming")
    ids = [f"v{i:03d}" for i in range(200)]
    root = toygraph.make_root(tmp, ids)
    config = toygraph.config_copy(tmp)
    args = ["-c", config, *toygraph.template_args(root)]
    verify = toygraph.klio("job", "verify", "--create-resources", *args)
    assert "created" in verify.stdout and "topic" in verify.stdout
    out = Collector("toy-count-out", "test-downstream")
    dead = Collector("toy-dead-letter", "test-dead")
    log = open(tmp / "pipeline.log", "wb")
    proc = subprocess.Popen([toygraph.KLIO, "job", "run", "--direct-runner", "--streaming", *args],
                            stdout=log, stderr=subprocess.STDOUT, cwd=toygraph.REPO,
                            start_new_session=True, env=dict(os.environ))
    out.watch(proc, str(tmp / "pipeline.log"))
    dead.watch(proc, str(tmp / "pipeline.log"))
    try:
        yield {"root": root, "args": args, "ids": ids, "out": out, "dead": dead, "proc": proc,
               "log": tmp / "pipeline.log"}
    finally:
        servers.stop(proc)
        log.close()


def publish(graph, *flags, job="toy-upper"):
    return toygraph.klio("message", "publish", "--job", job, *flags, *graph["args"])


def test_200_top_down_messages_flow_through_both_jobs(graph):
    graph["out"].received.clear()
    publish(graph, "--top-down", *graph["ids"])
    wanted = set(graph["ids"])
    received = graph["out"].pull(until=lambda r: len({m.data.element for m in messages(r)} & {
        i.encode() for i in wanted}) >= 200, timeout=240)
    received = [raw for raw, m in zip(received, messages(received)) if m.data.element.decode() in wanted]
    elements = [m.data.element.decode() for m in messages(received)]
    assert sorted(elements) == sorted(graph["ids"]), open(graph["log"]).read()[-3000:]
    assert len(elements) == len(set(elements)) == 200  # none lost, none duplicated
    outputs = [n for n in os.listdir(os.path.join(graph["root"], "out")) if n[:-5] in wanted]
    assert sorted(outputs) == sorted(f"{i}.json" for i in graph["ids"])
    audit = [item.klio_job.job_name for item in messages(received)[0].metadata.job_audit_log]
    assert audit == ["toy-upper", "toy-count"]
    assert graph["proc"].poll() is None


def test_bottom_up_with_missing_input_runs_parent_then_child(graph):
    root = graph["root"]
    with open(os.path.join(root, "in", "bu1.txt"), "w") as fh:
        fh.write("bottom up\n")
    publish(graph, "--bottom-up", "bu1", job="toy-count")
    received = graph["out"].pull(until=lambda r: any(m.data.element == b"bu1" for m in messages(r)))
    msg = [m for m in messages(received) if m.data.element == b"bu1"]
    assert len(msg) == 1
    assert json.load(open(os.path.join(root, "out", "bu1.json")))["words"] == 2
    assert open(os.path.join(root, "mid", "bu1.txt")).read() == "BOTTOM UP\n"
    limited = msg[0].metadata.intended_recipients.limited
    # Bottom-up stays limited to the jobs involved: nothing below toy-count would process it.
    assert sorted(j.job_name for j in limited.recipients) == ["toy-count", "toy-upper"]
    assert not limited.HasField("trigger_children_of")
    audit = [i.klio_job.job_name for i in msg[0].metadata.job_audit_log]
    assert audit == ["toy-count", "toy-upper", "toy-count"]


def test_force_reprocesses_an_existing_output(graph):
    root = graph["root"]
    target = os.path.join(root, "out", "force1.json")
    with open(os.path.join(root, "in", "force1.txt"), "w") as fh:
        fh.write("three words here\n")
    graph["out"].received.clear()
    publish(graph, "--top-down", "force1")
    graph["out"].pull(until=lambda r: any(m.data.element == b"force1" for m in messages(r)))
    assert json.load(open(target))["words"] == 3
    with open(os.path.join(root, "in", "force1.txt"), "w") as fh:
        fh.write("now four words here\n")
    publish(graph, "--top-down", "force1")  # not forced: output exists, passed through
    graph["out"].received.clear()
    graph["out"].pull(until=lambda r: len(r) >= 1)
    assert json.load(open(target))["words"] == 3
    graph["out"].received.clear()
    publish(graph, "--top-down", "--force", "force1")
    received = graph["out"].pull(until=lambda r: len(r) >= 1)
    assert [m.metadata.force for m in messages(received)] == [True]
    assert json.load(open(target))["words"] == 4


def test_ping_passes_through_both_jobs_without_work(graph):
    graph["out"].received.clear()
    publish(graph, "--top-down", "--ping", "pingonly")
    received = graph["out"].pull(until=lambda r: len(r) >= 1)
    [msg] = messages(received)
    assert msg.metadata.ping and msg.data.element == b"pingonly"
    assert [i.klio_job.job_name for i in msg.metadata.job_audit_log] == ["toy-upper", "toy-count"]
    for sub in ("mid", "out"):
        assert not any(name.startswith("pingonly") for name in os.listdir(os.path.join(graph["root"], sub)))


def test_unparseable_message_goes_to_dead_letter_topic_and_pipeline_keeps_running(graph):
    graph["dead"].received.clear()
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(topic("toy-upper-in"), b"\xff\xfe not a klio message").result()
    big = bytes(range(256)) * 10_000  # 2.5 MB: JSON-escaped whole it would exceed Pub/Sub's 10 MB
    publisher.publish(topic("toy-upper-in"), big).result()
    huge = b"\xff" * (9 * 2**20)  # over the 4 MiB a default gRPC channel receives
    publisher.publish(topic("toy-upper-in"), huge).result()
    letters = graph["dead"].pull(until=lambda r: len(r) >= 3)
    records = [DeadLetter.from_json(x) for x in letters]
    parse = sorted((r for r in records if r.stage == "parse"), key=lambda r: r.raw_length)
    assert len(parse) == 3 and {r.reason for r in parse} == {"unparseable-message"}
    assert parse[0].raw.encode("latin-1") == b"\xff\xfe not a klio message"
    assert parse[1].raw_length == len(big) and big.startswith(parse[1].raw.encode("latin-1"))
    assert parse[2].raw_length == len(huge)
    assert max(len(x) for x in letters) < 128 * 1024  # a bounded record
    graph["out"].received.clear()
    with open(os.path.join(graph["root"], "in", "after.txt"), "w") as fh:
        fh.write("still alive\n")
    publish(graph, "--top-down", "after")
    received = graph["out"].pull(until=lambda r: len(r) >= 1)
    assert [m.data.element for m in messages(received)] == [b"after"]
    assert graph["proc"].poll() is None
