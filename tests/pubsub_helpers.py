"""Pub/Sub test helpers: a plain subscriber (not a Klio job) collecting a topic's messages."""
from __future__ import annotations

import time

from google.cloud import pubsub_v1

from jobgraph.message import KlioMessage


class Collector:
    def __init__(self, project: str, topic_name: str, sub_name: str):
        self.subscriber = pubsub_v1.SubscriberClient()
        self.sub = f"projects/{project}/subscriptions/{sub_name}"
        self.subscriber.create_subscription(
            request={"name": self.sub, "topic": f"projects/{project}/topics/{topic_name}"})
        self.received: list[bytes] = []
        self._pipeline = None  # (Popen, log path): pulls fail at once when it has exited

    def watch(self, proc, log_path: str) -> "Collector":
        """Fail every later pull as soon as the pipeline process `proc` has exited, with the
        tail of its log, instead of waiting out the pull's timeout."""
        self._pipeline = (proc, log_path)
        return self

    def _check_pipeline(self) -> None:
        if self._pipeline is None or self._pipeline[0].poll() is None:
            return
        proc, log_path = self._pipeline
        with open(log_path, "rb") as fh:
            tail = fh.read()[-3000:].decode("utf-8", "replace")
        raise AssertionError(f"the pipeline exited with {proc.returncode}:\n{tail}")

    def pull(self, quiet_s: float = 3.0, until=None, timeout: float = 120.0) -> list[bytes]:
        """Pull until `until(received)` holds and nothing arrived for `quiet_s`, or timeout."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            self._check_pipeline()
            # return_immediately: the emulator holds an empty pull open for ~9 s otherwise
            resp = self.subscriber.pull(request={"subscription": self.sub, "max_messages": 500,
                                                 "return_immediately": True}, timeout=10)
            if resp.received_messages:
                self.received.extend(m.message.data for m in resp.received_messages)
                self.subscriber.acknowledge(request={
                    "subscription": self.sub, "ack_ids": [m.ack_id for m in resp.received_messages]})
                last = time.monotonic()
            elif time.monotonic() - last > quiet_s and (until is None or until(self.received)):
                return self.received
            else:
                time.sleep(0.2)
        return self.received


def messages(raw: list[bytes]) -> list[KlioMessage]:
    return [KlioMessage.FromString(data) for data in raw]
