"""The DirectRunner's Pub/Sub read made at-least-once (see jobgraph.receipts): it pulls as
Beam's does but acknowledges nothing; each message's receipt is acknowledged when the job has
published its results. Installed through the runner's evaluator override table, for the local
streaming runner only (Dataflow acknowledges on its own)."""
from __future__ import annotations

import time

from apache_beam.runners.direct import transform_evaluator
from apache_beam.runners.direct.direct_runner import _DirectReadFromPubSub

from jobgraph.receipts import RECEIPTS

MAX_IN_FLIGHT = 64       # pulls pause while this many messages are unfinished
PULL_MAX_MESSAGES = 10   # as Beam's own evaluator


class AckAfterDoneReadEvaluator(transform_evaluator._PubSubReadEvaluator):
    """The DirectRunner's Pub/Sub read, acknowledging nothing itself (see the module doc)."""

    def _read_from_pubsub(self, timestamp_attribute):
        from apache_beam.io.gcp.pubsub import PubsubMessage
        from apache_beam.utils.timestamp import Timestamp

        if RECEIPTS.in_flight() >= MAX_IN_FLIGHT:
            time.sleep(0.2)  # back-pressure: let the job finish what it holds
            return []
        client = self._get_subscriber_client(self._applied_ptransform)
        RECEIPTS.use_client(client)
        response = client.pull(subscription=self._sub_name, max_messages=PULL_MAX_MESSAGES, timeout=30)
        results = []
        for received in response.received_messages:
            RECEIPTS.received(self._sub_name, received.ack_id, received.message.message_id)
            message = PubsubMessage._from_message(received.message)
            results.append((Timestamp.from_utc_datetime(received.message.publish_time), message))
        return results


def install() -> None:
    """Make the DirectRunner read Pub/Sub with AckAfterDoneReadEvaluator (this process)."""
    overrides = transform_evaluator.TransformEvaluatorRegistry._test_evaluators_overrides
    overrides[_DirectReadFromPubSub] = AckAfterDoneReadEvaluator
