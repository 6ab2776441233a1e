"""The local streaming runner is at-least-once: a job SIGKILLed in the middle of its work
(deterministically, right after its 8th temporary file) loses no message. Its unfinished
messages were never acknowledged, Pub/Sub redelivers them to the restarted job, and every output
is written exactly once (what was finished before the kill passes through)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from jobgraph.faults import KILL_AFTER_TEMP_FILES
from tests import servers
from tests.jobgraph import toygraph
from tests.pubsub_helpers import Collector, messages

pytestmark = pytest.mark.emulator
N = 40
SHORT_LEASE = {"KLIO_LOCAL_ACK_DEADLINE_S": "10"}  # Pub/Sub's shortest: redelivery 10 s after the kill


def _start(args, log_path, env=None):
    log = open(log_path, "ab")
    return subprocess.Popen([toygraph.KLIO, "job", "run", "--direct-runner", "--streaming",
                             "--job", "toy-upper", *args], stdout=log, stderr=subprocess.STDOUT,
                            cwd=toygraph.REPO, start_new_session=True,
                            env={**os.environ, **SHORT_LEASE, **(env or {})})


def _written(counters_path: str) -> int:
    if not os.path.exists(counters_path):
        return 0
    with open(counters_path, encoding="utf-8") as fh:
        return json.load(fh)["counters"].get("toy-upper", {}).get("toy-upper-written", 0)


def test_job_killed_mid_work_then_restarted_loses_nothing_and_writes_once(tmp_path, pubsub_emulator):
    project = f"crash{uuid.uuid4().hex[:8]}"
    ids = [f"c{i:03d}" for i in range(N)]
    root = toygraph.make_root(tmp_path, ids)
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root, project)]
    toygraph.klio("job", "verify", "--create-resources", *args)
    out = Collector(project, "toy-upper-out", "crash-test-out")
    log_path = str(tmp_path / "job.log")

    killed = _start(args, log_path, env={KILL_AFTER_TEMP_FILES: "8"})
    out.watch(killed, log_path)
    toygraph.klio("message", "publish", "--job", "toy-upper", "--top-down", *ids, *args)
    try:
        killed.wait(timeout=180)
    finally:
        servers.stop(killed)
    assert killed.returncode == -signal.SIGKILL, open(log_path).read()[-3000:]
    finished_before = len([n for n in os.listdir(os.path.join(root, "mid")) if n.endswith(".txt")])
    assert 1 <= finished_before < N

    counters = str(tmp_path / "counters.json")
    restarted = _start([*args, "--summary-json", counters], log_path)
    out.watch(restarted, log_path)
    try:
        received = out.pull(until=lambda r: {m.data.element.decode() for m in messages(r)} >= set(ids),
                            timeout=300, quiet_s=3)
        deadline = time.monotonic() + 20  # the live counters are rewritten every 5 s
        while _written(counters) < N - finished_before and time.monotonic() < deadline:
            time.sleep(1)
        written_after = _written(counters)
    finally:
        servers.stop(restarted)

    assert {m.data.element.decode() for m in messages(received)} == set(ids), open(log_path).read()[-3000:]
    assert sorted(os.listdir(os.path.join(root, "mid"))) == sorted(f"{i}.txt" for i in ids)
    assert finished_before + written_after == N  # each output written exactly once


@pytest.mark.parametrize("value", ["5", "601", "ten"])
def test_a_lease_pubsub_would_refuse_fails_at_start_naming_the_variable(value):
    """Checked when the local streaming runner is set up, before any pipeline runs."""
    code = "from jobgraph import local_acks; local_acks.install()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=toygraph.REPO, env={**os.environ, "KLIO_LOCAL_ACK_DEADLINE_S": value})
    assert proc.returncode != 0
    assert f"KLIO_LOCAL_ACK_DEADLINE_S='{value}': expected whole seconds from 10 to 600" in proc.stderr
