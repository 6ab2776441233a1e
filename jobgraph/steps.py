"""The Beam steps the runtime wraps around a job's own transforms.

Element type between steps: `KlioMessage` objects (encoded with Beam's ProtoCoder); bytes only
at the event IO edges. Failures leave on the tagged output "dead_letter" as `DeadLetter`s.
Counters use Klio's `kmsg-*` names in the job's namespace.
"""
from __future__ import annotations

import collections
import threading
from typing import Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from jobgraph.config import JobConfig
from jobgraph.deadletter import DEAD_LETTER, DeadLetter
from jobgraph.existence import Existence
from jobgraph.ids import InvalidElementId, validate_id
from jobgraph.message import KlioMessage, UnparseableMessage, new_message, parse
from jobgraph.receipts import RECEIPTS, element_key
from jobgraph.routing import Decision, Outcome, UpstreamLoop, data_path, route_all, upstream_request

PASS_THRU = "pass_thru"
INPUT_MISSING = "input_missing"

# Dead-letter reasons that say the infrastructure failed, not the element: the run reports
# them with a non-zero exit (README, Guarantees), and a rerun retries them.
INFRASTRUCTURE_REASONS = ("existence-check-failed", "write-error")

# Messages routed together (their existence checks batched): large enough that one listing
# answers many elements, small enough that a chunk's messages are a few MB in memory.
ROUTE_CHUNK = 10_000


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

    Messages are routed in chunks of up to `chunk_size` (and whatever a bundle ends with), so
    that a chunk's existence checks are answered together (jobgraph.existence: one listing per
    object-store prefix instead of one request per element). Every output keeps its own
    element's window, timestamp and pane. "Does not exist" serves only its chunk (each element's
    check happens after it arrived, as with one check per element); "exists" serves the rest of
    the bundle, never a later one.
    """

    def __init__(self, job: JobConfig, chunk_size: int = ROUTE_CHUNK):
        self.job, self.chunk_size = job, chunk_size
        self._pending: list[WindowedValue] = []
        self._existence: Existence | None = None

    def setup(self):
        self._existence = Existence()

    def start_bundle(self):
        self._pending = []
        if self._existence is not None:
            self._existence.forget()

    def process(self, msg: KlioMessage, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterable:
        self._pending.append(WindowedValue(msg, timestamp, (window,), pane))
        if len(self._pending) >= self.chunk_size:
            yield from self._route_pending()

    def finish_bundle(self) -> Iterable:
        yield from self._route_pending()
        if self._existence is not None:
            self._existence.forget()

    def _route_pending(self) -> list:
        """Route the buffered messages; counters first, then the outputs (as one at a time did)."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        if self._existence is None:  # a DoFn used without setup() (direct calls)
            self._existence = Existence()
        counts: collections.Counter = collections.Counter({"kmsg-received": len(pending)})
        decisions = route_all([wv.value for wv in pending], self.job, self._existence.check)
        outputs = [_in_element_window(out, wv) for wv, decision in zip(pending, decisions)
                   for out in self._outputs(wv.value, decision, counts)]
        for name, n in counts.items():
            counter(self.job, name).inc(n)
        return outputs

    def _outputs(self, msg: KlioMessage, decision: Decision | Exception, counts: collections.Counter) -> list:
        """What one routing decision emits; its counters are added to `counts`."""
        name = self.job.job_name
        if isinstance(decision, Exception):  # storage errors must not kill the pipeline
            return [dead_letter(name, msg, "route", "existence-check-failed", str(decision),
                                type(decision).__name__)]
        outcome = decision.outcome
        if outcome in (Outcome.DROP_NO_RECIPIENTS, Outcome.DROP_NOT_RECIPIENT):
            RECEIPTS.done(name, element_key(msg.data.element))  # a drop ends the message here
            counts["kmsg-drop-not-recipient" if outcome is Outcome.DROP_NOT_RECIPIENT
                   else "kmsg-drop-no-recipients"] += 1
            counts["kmsg-drop"] += 1
            return []
        if outcome is Outcome.INVALID_ID:
            return [dead_letter(name, msg, "validate-id", "invalid-id", decision.detail, "InvalidElementId")]
        if outcome is Outcome.PING:
            counts["kmsg-skip-ping"] += 1
            return [pvalue.TaggedOutput(PASS_THRU, msg)]
        counts["kmsg-process-ping"] += 1
        if self.job.data_output is not None and not self.job.data_output.skip_klio_existence_check:
            found = outcome is Outcome.OUTPUT_EXISTS or decision.forced
            counts["kmsg-data-found-output" if found else "kmsg-data-not-found-output"] += 1
        if outcome is Outcome.OUTPUT_EXISTS:
            counts["kmsg-skip-force"] += 1
            return [pvalue.TaggedOutput(PASS_THRU, msg)]
        if decision.forced:
            counts["kmsg-process-force"] += 1
        if outcome is Outcome.INPUT_MISSING:
            counts["kmsg-data-not-found-input"] += 1
            return [pvalue.TaggedOutput(INPUT_MISSING, msg)]
        if self.job.data_input is not None and not self.job.data_input.skip_klio_existence_check:
            counts["kmsg-data-found-input"] += 1
        return [msg]


def _in_element_window(out, element: WindowedValue):
    """An output of a buffered element, in that element's window with its timestamp and pane."""
    if isinstance(out, pvalue.TaggedOutput):
        return pvalue.TaggedOutput(out.tag, element.with_value(out.value))
    return element.with_value(out)


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
    the largest worker's peak) and its private memory at the bundle's end
    (`worker-private-mib`: peak RSS less shared, memory-mapped model files)."""

    def __init__(self, job_name: str):
        self.job_name = job_name

    def process(self, msg):
        counter(self.job_name, "kmsg-success").inc()
        yield msg

    def finish_bundle(self):
        from apache_beam.metrics import Metrics

        from jobgraph.memory import peak_rss_mib, private_rss_mib

        Metrics.distribution(self.job_name, "worker-peak-rss-mib").update(int(peak_rss_mib()))
        Metrics.distribution(self.job_name, "worker-private-mib").update(int(private_rss_mib()))


class CountDeadLetters(beam.DoFn):
    """Dead letters returned by run() count as `dead-letter` and `dead-letter:{reason}`, like the
    runtime's own."""

    def __init__(self, job_name: str):
        self.job_name = job_name

    def process(self, letter: DeadLetter):
        counter(self.job_name, "dead-letter").inc()
        counter(self.job_name, f"dead-letter:{letter.reason}").inc()
        yield letter
