"""Receipts of Pub/Sub messages for the local streaming runner: a message is acknowledged only
once its results are published (at-least-once, as on Dataflow).

Beam's DirectRunner acknowledges every message as soon as it pulls it, so a crash loses what
was pulled and not yet finished. Dataflow acknowledges only after the results are committed; this
module gives the local runner the same behaviour:

- `jobgraph.local_acks.AckAfterDoneReadEvaluator` replaces the DirectRunner's Pub/Sub read
  evaluator (through the runner's evaluator override table). It pulls as Beam does but
  acknowledges nothing: each message becomes a pending *receipt*, its ack deadline kept
  extended while the job works on it.
- The runtime's first step binds the receipt (by Pub/Sub message ID) to the element it carries
  (`bind`); every way a message can end (published output or pass-through, published dead
  letter, published upstream request, drop) calls `done(job, element)` once that end is durable,
  and the oldest receipt of that element is acknowledged.
- A crash leaves the unfinished receipts unacknowledged: Pub/Sub redelivers them when their
  deadline lapses (`ack_deadline_s`, $KLIO_LOCAL_ACK_DEADLINE_S), and the restarted job processes
  them. Work that was finished but not acknowledged is redelivered too and passes through (its
  output exists), so outputs are written once and events may repeat.

Receipts are process-wide (the local runners run the pipeline in this process); keys are
(job, element text as dead letters record it), matched oldest first. A job whose outputs carry
other elements than its inputs never ends its inputs' receipts: they are let go after
MAX_LEASE_S and redelivered.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time

from jobgraph.deadletter import ELEMENT_LIMIT, clip

log = logging.getLogger("jobgraph")

ACK_DEADLINE_ENV = "KLIO_LOCAL_ACK_DEADLINE_S"
DEFAULT_ACK_DEADLINE_S = 30
MAX_LEASE_S = 30 * 60.0      # then a receipt is let go (redelivered), so nothing sticks forever


def ack_deadline_s() -> int:
    """How long after its last lease a crashed job's messages come back: $KLIO_LOCAL_ACK_DEADLINE_S,
    else 30 s; Pub/Sub accepts 10 to 600. Read when the local streaming runner starts."""
    text = os.environ.get(ACK_DEADLINE_ENV, "").strip() or str(DEFAULT_ACK_DEADLINE_S)
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if not 10 <= seconds <= 600:
        raise ValueError(f"{ACK_DEADLINE_ENV}={text!r}: expected whole seconds from 10 to 600")
    return seconds


class _Receipt:
    __slots__ = ("subscription", "ack_id", "received_at")

    def __init__(self, subscription: str, ack_id: str):
        self.subscription, self.ack_id, self.received_at = subscription, ack_id, time.monotonic()


class Receipts:
    """Pending acknowledgements of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_message_id: dict[str, _Receipt] = {}
        self._by_element: dict[tuple[str, str], collections.deque[_Receipt]] = collections.defaultdict(
            collections.deque)
        self._client = None
        self._lease_thread: threading.Thread | None = None
        self.deadline_s = DEFAULT_ACK_DEADLINE_S  # local_acks.install() sets $KLIO_LOCAL_ACK_DEADLINE_S

    def use_client(self, client) -> None:
        with self._lock:
            self._client = client
            if self._lease_thread is None:
                self._lease_thread = threading.Thread(target=self._lease_loop, daemon=True,
                                                      name="pubsub-lease")
                self._lease_thread.start()

    def received(self, subscription: str, pulled: list[tuple[str, str]]) -> None:
        """Hold the (ack_id, message_id) pairs of one pull, leased for `deadline_s` from now
        (not the subscription's own deadline, so a crash right after a pull is redelivered as
        soon as one after a lease)."""
        with self._lock:
            for ack_id, message_id in pulled:
                self._by_message_id[message_id] = _Receipt(subscription, ack_id)
        if pulled:
            self._lease(subscription, [ack_id for ack_id, _ in pulled])

    def bind(self, job: str, message_id: str, element: str) -> None:
        """Tie a received message to the element the job will report as done."""
        with self._lock:
            receipt = self._by_message_id.pop(message_id, None)
            if receipt is not None:
                self._by_element[(job, element)].append(receipt)

    def done(self, job: str, element: str) -> None:
        """The job has durably finished one message of `element`: acknowledge the oldest."""
        with self._lock:
            queue = self._by_element.get((job, element))
            if not queue:
                return
            receipt = queue.popleft()
            if not queue:
                del self._by_element[(job, element)]
            client = self._client
        if client is None:
            return
        try:
            client.acknowledge(subscription=receipt.subscription, ack_ids=[receipt.ack_id])
        except Exception:  # noqa: BLE001 - unacknowledged means redelivered: a pass-through
            log.warning("could not acknowledge a message of %s (it will be redelivered)", element,
                        exc_info=True)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._by_message_id) + sum(len(q) for q in self._by_element.values())

    def _pending(self) -> list[_Receipt]:
        now = time.monotonic()
        with self._lock:
            receipts = list(self._by_message_id.values())
            receipts += [r for queue in self._by_element.values() for r in queue]
            expired = {id(r) for r in receipts if now - r.received_at > MAX_LEASE_S}
            if expired:
                self._drop(expired)
        return [r for r in receipts if id(r) not in expired]

    def _drop(self, expired: set[int]) -> None:
        log.warning("%d message(s) unfinished after %.0f s: no longer leased, Pub/Sub will "
                    "redeliver them", len(expired), MAX_LEASE_S)
        self._by_message_id = {k: r for k, r in self._by_message_id.items() if id(r) not in expired}
        for key in list(self._by_element):
            kept = collections.deque(r for r in self._by_element[key] if id(r) not in expired)
            if kept:
                self._by_element[key] = kept
            else:
                del self._by_element[key]

    def _lease_loop(self) -> None:
        while True:
            time.sleep(self.deadline_s / 3)  # renewed well before it lapses
            by_subscription: dict[str, list[str]] = collections.defaultdict(list)
            for receipt in self._pending():
                by_subscription[receipt.subscription].append(receipt.ack_id)
            for subscription, ack_ids in by_subscription.items():
                self._lease(subscription, ack_ids)

    def _lease(self, subscription: str, ack_ids: list[str]) -> None:
        try:
            self._client.modify_ack_deadline(subscription=subscription, ack_ids=ack_ids,
                                             ack_deadline_seconds=self.deadline_s)
        except Exception:  # noqa: BLE001 - a lapsed lease only means a redelivery
            log.warning("could not extend the lease of %d message(s)", len(ack_ids), exc_info=True)


RECEIPTS = Receipts()


def element_key(element: bytes | str) -> str:
    """The element as a dead letter records it (UTF-8 with replacements, clipped): the key under
    which a message's receipt waits for its end."""
    text = element.decode("utf-8", "replace") if isinstance(element, bytes) else element
    return clip(text, ELEMENT_LIMIT)
