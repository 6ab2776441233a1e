"""`python -m benchmarks faults [--quick]`: the streaming graph under crashes, an outage and a
poison upload; does every upload end labelled (or as one dead letter), with no output written
twice and no manual sweep?

Google's Pub/Sub emulator on loopback; the root graph as a local streaming graph (`klio job run
--direct-runner --streaming --create-resources`: the launcher supervises one process per job),
its embedder openvino-int8 from the conversion cache; uploads are tiny generated videos (1 s,
64x48), so the figures are about delivery, not speed. Scenario:

1. Uploads are published at a steady rate; among them one poison upload (a payload of JSON
   nested 5,000 deep, which once killed video-iab). While they are being published, both job
   processes are SIGKILLed at 3 random moments; the launcher restarts them.
2. Once every upload so far has ended, the Pub/Sub server is stopped for --outage-s seconds
   (default 300) and started again on the same port. The emulator keeps no state across a
   restart: topics and subscriptions are recreated by the restarted jobs (--create-resources),
   and messages published while the server was down do not exist, so only uploads published
   while it was up are counted.
3. More uploads are published after the outage, and the run waits for all of them.

Every completed output write is recorded (JOBGRAPH_WRITE_LOG), so "written twice" counts label
and feature files written more than once across all the processes, killed ones included.
Figures (counts, no baseline): published, labelled, lost, labels_written_twice,
features_written_twice, dead_letters, poison_dead_letters, plus the seconds each phase took.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.common import REPO, figure, render_graph_config
from benchmarks.scaling import GRAPH_OVERRIDES, warm_cache

PROJECT = "video-iab-faults"
POISON_ID = "poison"
POISON_PAYLOAD = b'{"metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def _say(text: str) -> None:
    print(f"[faults] {text}", file=sys.stderr, flush=True)


def _videos(directory: str, count: int) -> list[str]:
    from transforms.synthetic_video import VideoSpec, write_video

    os.makedirs(directory, exist_ok=True)
    ids = [f"u{i:04d}" for i in range(count)] + [POISON_ID]
    for i, video_id in enumerate(ids):
        write_video(os.path.join(directory, f"{video_id}.mp4"), VideoSpec(
            content="scene", category=i % 6, seed=i, duration_s=1.0, fps=5.0, width=64, height=48))
    return ids


def _job_pids(launcher: subprocess.Popen) -> list[int]:
    """The launcher's children: one process per job."""
    out = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def _kill_jobs(launcher: subprocess.Popen, jobs: int = 2, wait_s: float = 120.0) -> int:
    """SIGKILL every job process, once all `jobs` are running again (the launcher restarts
    killed ones after a backoff)."""
    deadline = time.monotonic() + wait_s
    while len(_job_pids(launcher)) < jobs and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = _job_pids(launcher)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


class _DeadLetters:
    """Counts dead-letter records on the graph's dead-letter topic (its own subscription,
    recreated after the emulator restarts)."""

    def __init__(self, topic: str):
        self.topic = topic
        self.subscription = topic.replace("/topics/", "/subscriptions/") + "-faults-benchmark"
        self.records: list[dict] = []

    def ensure_subscription(self) -> None:
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        for create in (lambda: publisher.create_topic(request={"name": self.topic}),
                       lambda: subscriber.create_subscription(
                           request={"name": self.subscription, "topic": self.topic})):
            try:
                create()
            except gexc.AlreadyExists:
                pass

    def drain(self) -> None:
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        while True:
            response = subscriber.pull(request={"subscription": self.subscription, "max_messages": 100},
                                       timeout=10)
            if not response.received_messages:
                return
            self.records += [json.loads(m.message.data) for m in response.received_messages]
            subscriber.acknowledge(request={"subscription": self.subscription,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})


def _publish(topic: str, job, ids: list[str], rate_per_s: float) -> None:
    from jobgraph.message import new_message
    from jobgraph.resources import publish

    for video_id in ids:
        started = time.monotonic()
        payload = POISON_PAYLOAD if video_id == POISON_ID else b'{"category": "sports"}'
        publish(topic, [new_message(video_id, job=job.identity, top_down=True, payload=payload)
                        .SerializeToString()])
        time.sleep(max(0.0, 1.0 / rate_per_s - (time.monotonic() - started)))


def _ended(out: str, ids: list[str], dead: _DeadLetters) -> set[str]:
    """IDs labelled or dead-lettered."""
    dead.drain()
    labelled = {i for i in ids if os.path.exists(os.path.join(out, "labels", f"{i}.json"))}
    return labelled | {r["element"] for r in dead.records}


def _wait_until_ended(out: str, ids: list[str], dead: _DeadLetters, launcher, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if launcher.poll() is not None:
            raise RuntimeError(f"the graph launcher exited ({launcher.returncode})")
        if set(ids) <= _ended(out, ids, dead):
            return time.monotonic() - started
        time.sleep(1.0)
    return time.monotonic() - started


def _written_twice(write_log: str, folder: str) -> int:
    if not os.path.exists(write_log):
        return 0
    with open(write_log, encoding="utf-8") as fh:
        counts = collections.Counter(line.strip() for line in fh if f"/{folder}/" in line)
    return sum(1 for n in counts.values() if n > 1)


def run_scenario(uploads: int, after_outage: int, kills: int, outage_s: float, rate_per_s: float,
                 seed: int) -> dict:
    from jobgraph.config import load_graph
    from tests import servers

    rng = random.Random(seed)
    out = tempfile.mkdtemp(prefix="faults-")
    phases: dict[str, float] = {}
    try:
        ids = _videos(os.path.join(out, "videos"), uploads + after_outage)
        before, after = ids[:uploads] + [POISON_ID], ids[uploads:uploads + after_outage]
        rng.shuffle(before)  # the poison lands at a random place among the good uploads
        config = render_graph_config(out, os.path.join(out, "videos"), PROJECT)
        graph = load_graph(config)
        features_job = graph.job("video-features")
        topic = features_job.event_input(streaming=True).topic
        dead = _DeadLetters(graph.job("video-iab").dead_letter(streaming=True).topic)
        emulator_log = os.path.join(out, "emulator.log")
        write_log = os.path.join(out, "writes.log")
        proc, port = servers._start_on_free_port(servers.pubsub_emulator_command, emulator_log,
                                                 "Pub/Sub emulator")
        host = f"127.0.0.1:{port}"
        os.environ["PUBSUB_EMULATOR_HOST"] = host
        env = {**os.environ, "NO_GCE_CHECK": "true", "TF_CPP_MIN_LOG_LEVEL": "2",
               "JOBGRAPH_WRITE_LOG": write_log}
        klio = os.path.join(os.path.dirname(sys.executable), "klio")
        overrides = GRAPH_OVERRIDES
        subprocess.run([klio, "job", "verify", "--create-resources", "-c", config, *overrides],
                       check=True, capture_output=True, env=env, cwd=REPO)
        dead.ensure_subscription()
        log = open(os.path.join(out, "graph.log"), "wb")
        launcher = subprocess.Popen([klio, "job", "run", "--direct-runner", "--streaming",
                                     "--create-resources", "-c", config, *overrides],
                                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                    start_new_session=True)
        try:
            # 1. uploads with kills at random moments while they are published
            span = len(before) / rate_per_s
            kill_at = sorted(rng.uniform(0.1 * span, 0.9 * span) for _ in range(kills))
            publisher = threading.Thread(target=_publish, args=(topic, features_job, before, rate_per_s))
            started = time.monotonic()
            publisher.start()
            for moment in kill_at:
                time.sleep(max(0.0, moment - (time.monotonic() - started)))
                _say(f"SIGKILL of {_kill_jobs(launcher)} job processes at {time.monotonic() - started:.0f} s")
            publisher.join()
            phases["publish_and_kills_s"] = time.monotonic() - started
            phases["drain_after_kills_s"] = _wait_until_ended(out, before, dead, launcher, 600)
            _say(f"phase 1 done: {len(_ended(out, before, dead) & set(before))}/{len(before)} ended")

            # 2. the Pub/Sub server goes away, then comes back on the same port, empty
            servers.stop(proc)
            _say(f"Pub/Sub down for {outage_s:.0f} s")
            time.sleep(outage_s)
            with open(emulator_log, "ab") as fh:
                proc = subprocess.Popen(servers.pubsub_emulator_command(port), stdout=fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            servers._wait_for_port(port, proc, "Pub/Sub emulator")
            dead.ensure_subscription()
            _say("Pub/Sub back")

            # 3. uploads after the outage (the jobs recreate their subscriptions on restart)
            started = time.monotonic()
            _wait_for_subscriptions(graph, 300)
            phases["recovery_s"] = time.monotonic() - started
            started = time.monotonic()
            _publish(topic, features_job, after, rate_per_s)
            phases["after_outage_s"] = _wait_until_ended(out, after, dead, launcher, 600) + (
                time.monotonic() - started)
        finally:
            servers.stop(launcher)
            servers.stop(proc)
            log.close()

        published = before + after
        labelled = {i for i in published if os.path.exists(os.path.join(out, "labels", f"{i}.json"))}
        dead_elements = collections.Counter(r["element"] for r in dead.records)
        lost = [i for i in published if i not in labelled and i not in dead_elements]
        return {
            "published": len(published), "labelled": len(labelled), "lost": len(lost),
            "labels_written_twice": _written_twice(write_log, "labels"),
            "features_written_twice": _written_twice(write_log, "features"),
            "dead_letters": len(dead.records), "poison_dead_letters": dead_elements.get(POISON_ID, 0),
            "poison_reason": sorted({r["reason"] for r in dead.records if r["element"] == POISON_ID}),
            "lost_ids": lost[:20], "phases": phases,
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _wait_for_subscriptions(graph, timeout_s: float) -> None:
    """Until the restarted jobs have recreated their input subscriptions."""
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    names = [job.event_input(streaming=True).subscription for job in graph.jobs]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            for name in names:
                subscriber.get_subscription(request={"subscription": name}, timeout=5)
            return
        except (gexc.NotFound, gexc.ServiceUnavailable, gexc.DeadlineExceeded):
            time.sleep(2.0)
    raise RuntimeError(f"the jobs did not recreate {names} within {timeout_s} s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks faults", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 uploads + 10 after the outage (else 1000 + 50)")
    parser.add_argument("--outage-s", type=float, default=300.0, help="Pub/Sub down this long (default 300)")
    parser.add_argument("--rate", type=float, default=4.0, help="uploads published per second (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments and the poison's place")
    args = parser.parse_args(argv)
    uploads, after = (200, 10) if args.quick else (1000, 50)
    warm_cache()
    result = run_scenario(uploads, after, kills=3, outage_s=args.outage_s, rate_per_s=args.rate,
                          seed=args.seed)
    extra = {"kills": 3, "outage_s": args.outage_s, "phases_s": {k: round(v, 1) for k, v in result["phases"].items()}}
    for name in ("published", "labelled", "lost", "labels_written_twice", "features_written_twice",
                 "dead_letters", "poison_dead_letters"):
        figure(name, result[name], "uploads", None, **extra)
    if result["lost"]:
        _say(f"lost: {result['lost_ids']}")
    _say(f"poison reason: {result['poison_reason']}")
    return 0 if result["lost"] == 0 and result["labels_written_twice"] == 0 else 1
