"""The Beam steps the runtime wraps around a job's own transforms.

Element type between steps: `KlioMessage` objects (encoded with Beam's ProtoCoder); bytes only
at the event IO edges. Failures leave on the tagged output "dead_letter" as `DeadLetter`s.
Counters use Klio's `kmsg-*` names in the job's namespace.
"""
from __future__ import annotations

import threading
from typing import Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from jobgraph import storage
from jobgraph.config import JobConfig
from jobgraph.deadletter import DEAD_LETTER, DeadLetter
from jobgraph.ids import InvalidElementId, validate_id
from jobgraph.message import KlioMessage, UnparseableMessage, new_message, parse
from jobgraph.receipts import RECEIPTS, element_key
from jobgraph.routing import Outcome, UpstreamLoop, data_path, route, upstream_request

PASS_THRU = "pass_thru"
INPUT_MISSING = "input_missing"

# Dead-letter reasons that say the infrastructure failed, not the element: the run reports
# them with a non-zero exit (README, Guarantees), and a rerun retries them.
INFRASTRUCTURE_REASONS = ("existence-check-failed", "write-error")


# Process-local copy of the runtime's counters: on the local runners, which run in this process,
# a streaming run can report them while it runs (Beam's DirectRunner metrics are not live).
LOCAL_COUNTS: dict[str, dict[str, int]] = {}
_LOCAL_LOCK = threading.Lock()


class _Counter:
    """A Beam counter that also counts in LOCAL_COUNTS."""

    def __init__(self, namespace: str, name: str):
        self.namespace, self.name = namespace, name
        self.beam = Metrics.counter(namespace, name)

    def inc(self, n: int = 1) -> None:
        self.beam.inc(n)
        with _LOCAL_LOCK:
            job = LOCAL_COUNTS.setdefault(self.namespace, {})
            job[self.name] = job.get(self.name, 0) + n


def local_counts() -> dict[str, dict[str, int]]:
    with _LOCAL_LOCK:
        return {job: dict(values) for job, values in LOCAL_COUNTS.items()}


def counter(job: JobConfig | str, name: str) -> _Counter:
    return _Counter(job if isinstance(job, str) else job.job_name, name)


def dead_letter(job_name: str, msg_or_element, stage: str, reason: str, message: str,
                error_class: str = "", raw: bytes | None = None) -> pvalue.TaggedOutput:
    """A tagged dead-letter output; counts it under `dead-letter` and `dead-letter:{reason}`."""
    element = msg_or_element
    if isinstance(msg_or_element, KlioMessage):
        element = msg_or_element.data.element.decode("utf-8", "replace")
    counter(job_name, "dead-letter").inc()
    counter(job_name, f"dead-letter:{reason}").inc()
    fields = dict(job=job_name, element=str(element), stage=stage, reason=reason, message=message,
                  error_class=error_class)
    letter = DeadLetter(**fields) if raw is None else DeadLetter.with_raw(raw, **fields)
    return pvalue.TaggedOutput(DEAD_LETTER, letter)


class ParseMessages(beam.DoFn):
    """Event bytes (or a PubsubMessage, when the local runner tracks receipts) -> KlioMessage;
    unparseable bytes -> dead letter (Klio crashed the pipeline). A PubsubMessage's receipt is
    bound to the element it carries, to be acknowledged when that element's message ends."""

    def __init__(self, job: JobConfig):
        self.job = job

    def process(self, raw) -> Iterable:
        message_id = None
        if not isinstance(raw, bytes):  # apache_beam.io.gcp.pubsub.PubsubMessage
            message_id, raw = raw.message_id, raw.data
        try:
            msg = parse(raw, self.job.allow_non_klio_messages)
        except UnparseableMessage as exc:
            if message_id:
                RECEIPTS.bind(self.job.job_name, message_id, element_key(""))
            counter(self.job, "kmsg-received").inc()  # received, though not routable
            yield dead_letter(self.job.job_name, "", "parse", exc.reason, str(exc),
                              type(exc).__name__, raw=raw)
            return
        if message_id:
            RECEIPTS.bind(self.job.job_name, message_id, element_key(msg.data.element))
        yield msg


class IdsToMessages(beam.DoFn):
    """Batch event input: one ID per line -> a v2 message for anyone (as Klio's batch readers).

    Lines arrive as bytes so that one bad line is one dead letter, not a failed run: a line that
    is not UTF-8 is dead-lettered with its bytes; a UTF-8 byte-order mark and surrounding
    whitespace are stripped; blank lines are skipped. IDs are validated by the routing step,
    before any path exists.
    """

    def __init__(self, job: JobConfig):
        self.job = job

    def process(self, line: str | bytes) -> Iterable:
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                counter(self.job, "kmsg-received").inc()
                yield dead_letter(self.job.job_name, line.decode("utf-8", "replace"), "read-ids",
                                  "invalid-id", f"ID line is not UTF-8: {exc.reason} at byte {exc.start}",
                                  type(exc).__name__, raw=line)
                return
        text = line.lstrip("\ufeff").strip()
        if text:
            yield new_message(text, top_down=True)


class RouteMessages(beam.DoFn):
    """Klio's receipt steps in order; main output = messages to process.

    Tagged outputs: pass_thru (ping, output exists), input_missing, dead_letter. Drops are
    counted (`kmsg-drop-not-recipient`, `kmsg-drop`), as Klio's KlioDrop does (Klio also logged them).
    """

    def __init__(self, job: JobConfig):
        self.job = job

    def process(self, msg: KlioMessage) -> Iterable:
        name = self.job.job_name
        counter(name, "kmsg-received").inc()
        try:
            decision = route(msg, self.job, storage.exists)
        except Exception as exc:  # storage errors must not kill the pipeline
            yield dead_letter(name, msg, "route", "existence-check-failed", str(exc), type(exc).__name__)
            return
        outcome = decision.outcome
        if outcome in (Outcome.DROP_NO_RECIPIENTS, Outcome.DROP_NOT_RECIPIENT):
            RECEIPTS.done(name, element_key(msg.data.element))  # a drop ends the message here
            if outcome is Outcome.DROP_NOT_RECIPIENT:
                counter(name, "kmsg-drop-not-recipient").inc()
            else:
                counter(name, "kmsg-drop-no-recipients").inc()
            counter(name, "kmsg-drop").inc()
            return
        if outcome is Outcome.INVALID_ID:
            yield dead_letter(name, msg, "validate-id", "invalid-id", decision.detail, "InvalidElementId")
            return
        if outcome is Outcome.PING:
            counter(name, "kmsg-skip-ping").inc()
            yield pvalue.TaggedOutput(PASS_THRU, msg)
            return
        counter(name, "kmsg-process-ping").inc()
        if self.job.data_output is not None and not self.job.data_output.skip_klio_existence_check:
            if outcome is Outcome.OUTPUT_EXISTS or decision.forced:
                counter(name, "kmsg-data-found-output").inc()
            else:
                counter(name, "kmsg-data-not-found-output").inc()
        if outcome is Outcome.OUTPUT_EXISTS:
            counter(name, "kmsg-skip-force").inc()
            yield pvalue.TaggedOutput(PASS_THRU, msg)
            return
        if decision.forced:
            counter(name, "kmsg-process-force").inc()
        if outcome is Outcome.INPUT_MISSING:
            counter(name, "kmsg-data-not-found-input").inc()
            yield pvalue.TaggedOutput(INPUT_MISSING, msg)
            return
        if self.job.data_input is not None and not self.job.data_input.skip_klio_existence_check:
            counter(name, "kmsg-data-found-input").inc()
        yield msg


class RequestUpstream(beam.DoFn):
    """Input missing: address the message to the parent (bottom-up trigger) or dead-letter it."""

    def __init__(self, job: JobConfig, parent: JobConfig | None, reason_if_no_parent: str = ""):
        self.job, self.parent = job, parent
        self.reason_if_no_parent = reason_if_no_parent

    def process(self, msg: KlioMessage) -> Iterable:
        name = self.job.job_name
        path = storage_path_hint(self.job, msg)
        if self.parent is None:
            yield dead_letter(name, msg, "input-missing", "input-missing",
                              self.reason_if_no_parent or f"input {path} does not exist and job "
                              f"{name} has no parent job to regenerate it")
            return
        try:
            request = upstream_request(msg, self.job.identity, self.parent.identity)
        except UpstreamLoop as exc:
            yield dead_letter(name, msg, "input-missing", exc.reason, f"{exc} ({path})", "UpstreamLoop")
            return
        counter(name, "kmsg-trigger-upstream").inc()
        yield request


def storage_path_hint(job: JobConfig, msg: KlioMessage) -> str:
    if job.data_input is None:
        return "(no data input)"
    try:
        return data_path(job.data_input, validate_id(msg.data.element, job.id_pattern))
    except InvalidElementId:
        return "(invalid id)"


class CountProcessed(beam.DoFn):
    """The job's own outputs (what run() returned) count as `kmsg-success`; each bundle also
    reports the worker process's peak memory (distribution `worker-peak-rss-mib`: its max is
    the largest worker's peak)."""

    def __init__(self, job_name: str):
        self.job_name = job_name

    def process(self, msg):
        counter(self.job_name, "kmsg-success").inc()
        yield msg

    def finish_bundle(self):
        from apache_beam.metrics import Metrics

        from jobgraph.memory import peak_rss_mib

        Metrics.distribution(self.job_name, "worker-peak-rss-mib").update(int(peak_rss_mib()))


class CountDeadLetters(beam.DoFn):
    """Dead letters returned by run() count as `dead-letter` and `dead-letter:{reason}`, like the
    runtime's own."""

    def __init__(self, job_name: str):
        self.job_name = job_name

    def process(self, letter: DeadLetter):
        counter(self.job_name, "dead-letter").inc()
        counter(self.job_name, f"dead-letter:{letter.reason}").inc()
        yield letter
