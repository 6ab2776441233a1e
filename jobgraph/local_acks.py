"""The DirectRunner's Pub/Sub read made at-least-once (see jobgraph.receipts): it pulls as
Beam's does but acknowledges nothing; each message's receipt is acknowledged when the job has
published its results. Installed through the runner's evaluator override table, for the local
streaming runner only (Dataflow acknowledges on its own)."""
from __future__ import annotations

import os
import threading
import time

from apache_beam.runners.direct import transform_evaluator
from apache_beam.runners.direct.direct_runner import _DirectReadFromPubSub

from jobgraph.receipts import RECEIPTS, ack_deadline_s

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
        client = _large_message_client()
        RECEIPTS.use_client(client)
        response = client.pull(subscription=self._sub_name, max_messages=PULL_MAX_MESSAGES, timeout=30)
        RECEIPTS.received(self._sub_name, [(received.ack_id, received.message.message_id)
                                           for received in response.received_messages])
        results = []
        for received in response.received_messages:
            message = PubsubMessage._from_message(received.message)
            results.append((Timestamp.from_utc_datetime(received.message.publish_time), message))
        return results


_CLIENT = None
_CLIENT_LOCK = threading.Lock()


def _large_message_client():
    """A subscriber whose channel takes messages of any size: the default client's channel
    refuses responses over 4 MiB, so a larger message (Pub/Sub allows 10 MB) would never reach
    the job, not even as a dead letter."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            import grpc
            from google.cloud import pubsub_v1
            from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

            options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
            emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
            channel = (grpc.insecure_channel(emulator, options=options) if emulator
                       else SubscriberGrpcTransport.create_channel(options=options))
            _CLIENT = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
        return _CLIENT


def install() -> None:
    """Make the DirectRunner read Pub/Sub with AckAfterDoneReadEvaluator (this process), its
    leases as long as $KLIO_LOCAL_ACK_DEADLINE_S says (checked here, before the pipeline runs)."""
    RECEIPTS.deadline_s = ack_deadline_s()
    overrides = transform_evaluator.TransformEvaluatorRegistry._test_evaluators_overrides
    overrides[_DirectReadFromPubSub] = AckAfterDoneReadEvaluator
