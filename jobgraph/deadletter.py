"""Dead-letter records: one JSON object per element that could not be processed.

Every element a job receives ends as an output, a counted pass-through, or one of these.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from apache_beam import pvalue
from apache_beam.metrics import Metrics

DEAD_LETTER = "dead_letter"  # the tagged output dead letters leave a step on

ELEMENT_LIMIT = 300     # characters of the element kept
MESSAGE_LIMIT = 2000    # characters of the explanation kept
RAW_LIMIT = 16 * 1024   # bytes of an unparseable message kept (JSON-escaped: up to ~6x)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, saying the original length when cut (idempotent)."""
    text = str(text)
    if len(text) <= limit:
        return text
    suffix = f"... ({len(text)} characters)"
    return text[: limit - len(suffix)] + suffix


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """Why one element failed.

    job: job_name of the job that gave up on the element.
    element: the element's ID as received (may be invalid, never used in a path), or "" when unparseable.
    stage: the step that failed, e.g. "parse", "validate-id", "input-missing", "decode", "embed".
    reason: a short stable code for counting, e.g. "no-video-stream", "frame-too-large".
    error_class: the exception class name (or "" when no exception was raised).
    message: a human-readable explanation.
    attempt: 1 for the first failure of this element in this job.
    timestamp: ISO-8601 UTC.
    raw: for unparseable messages, the raw bytes (latin-1 decoded), at most RAW_LIMIT of them;
      raw_length and raw_sha256 describe the whole, so a truncated record still identifies it.
    Records are bounded (a few tens of KiB at most) whatever the input: element, message and
    raw are truncated, so a record always fits in a Pub/Sub message.
    """

    job: str
    element: str
    stage: str
    reason: str
    message: str
    error_class: str = ""
    attempt: int = 1
    timestamp: str = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat())
    raw: str | None = None
    raw_length: int | None = None
    raw_sha256: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "element", clip(self.element, ELEMENT_LIMIT))
        object.__setattr__(self, "message", clip(self.message, MESSAGE_LIMIT))

    @classmethod
    def with_raw(cls, raw: bytes, **fields) -> "DeadLetter":
        """A record keeping the first RAW_LIMIT bytes of `raw`, its length and its SHA-256."""
        return cls(raw=raw[:RAW_LIMIT].decode("latin-1"), raw_length=len(raw),
                   raw_sha256=hashlib.sha256(raw).hexdigest(), **fields)

    @classmethod
    def from_exception(cls, job: str, element: str, stage: str, exc: BaseException,
                       reason: str | None = None) -> "DeadLetter":
        """A record for `exc`; `reason` defaults to the exception's `reason` attribute or its class."""
        code = reason or getattr(exc, "reason", None) or type(exc).__name__
        return cls(job=job, element=element, stage=stage, reason=str(code),
                   message=str(exc) or type(exc).__name__, error_class=type(exc).__name__)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "DeadLetter":
        return cls(**json.loads(text))


def record(job: str, element: str, stage: str, exc: BaseException, reason: str | None = None,
           namespace: str | None = None) -> DeadLetter:
    """A DeadLetter for `exc`, counted as `dead-letters-{stage}` in `namespace` (default: the
    job's). The runtime counts what run() returns as `dead-letter` and `dead-letter:{reason}`."""
    Metrics.counter(namespace or job, f"dead-letters-{stage}").inc()
    return DeadLetter.from_exception(job, element, stage, exc, reason)


def failed(job: str, element: str, stage: str, exc: BaseException, reason: str | None = None,
           namespace: str | None = None) -> pvalue.TaggedOutput:
    """The one way a job's own step gives up on an element: its `record` on the DEAD_LETTER output."""
    return pvalue.TaggedOutput(DEAD_LETTER, record(job, element, stage, exc, reason, namespace))


def failed_batches(job: str, stage: str, reason: str, element_id: Callable[[Any], str],
                   namespace: str | None = None) -> Callable[[tuple], Iterator[DeadLetter]]:
    """For RunInference(...).with_exception_handling(): (failed batch, exception) -> one
    `record` per element of the batch; `element_id(element)` names each element."""
    def convert(failure: tuple) -> Iterator[DeadLetter]:
        batch, exc = failure
        for element in batch:
            yield record(job, element_id(element), stage, exc, reason, namespace)
    return convert


@dataclasses.dataclass(frozen=True)
class WarmUp:
    """The key of the one element that loads a RunInference step's model at a streaming
    pipeline's start (StepChain.run_inference); no output, counter or dead letter carries it."""


def _not_warm_up(result: tuple) -> bool:
    return not isinstance(result[0], WarmUp)


def _real_failures(failure: tuple) -> Iterator[tuple]:
    """A failed batch without its warm-up element (which names no element to dead-letter)."""
    batch, exc = failure
    real = [element for element in batch if _not_warm_up(element)]
    if real:
        yield real, exc


class StepChain:
    """A job's own steps chained with their dead letters kept aside: each step's main output
    feeds the next, every DEAD_LETTER output (and every failed RunInference batch) is collected,
    and `dead_letters()` flattens them into the one collection run() returns.

        chain = StepChain("video-iab", namespace="video_iab")
        read = chain.par_do(tasks, "read features", ReadFeatures(cfg)).main
        scored = chain.run_inference(read, "classify", handler, "classify", "classify-error", task_id)
        return written, chain.dead_letters()
    """

    def __init__(self, job: str, namespace: str | None = None):
        self.job, self.namespace = job, namespace
        self._dead: list = []

    def par_do(self, pcoll, label: str, dofn, *tags: str):
        """`dofn` on `pcoll`; returns its outputs (`.main`, and `[tag]` for each of `tags`)."""
        import apache_beam as beam

        out = pcoll | label >> beam.ParDo(dofn).with_outputs(DEAD_LETTER, *tags, main="main")
        self._dead.append(out[DEAD_LETTER])
        return out

    def run_inference(self, pcoll, label: str, handler, stage: str, reason: str,
                      element_id: Callable[[Any], str], warm_up: Any = None):
        """RunInference with `handler`; a failed batch is one dead letter per element.

        warm_up: an input the handler answers without running its model (the video handlers'
        `warm_up_input()`: zero frames, zero windows, features of no width). In a streaming
        pipeline, `(WarmUp(), warm_up)` is fed to the step once when the pipeline starts, so
        that RunInference loads its model then (its set-up, with its own sharing) instead of
        on the first real element; the result is dropped after the step.
        """
        import apache_beam as beam
        from apache_beam.ml.inference.base import RunInference
        from apache_beam.options.pipeline_options import StandardOptions

        warming = warm_up is not None and pcoll.pipeline.options.view_as(StandardOptions).streaming
        if warming:
            start = pcoll.pipeline | f"{label} warm-up" >> beam.Create([(WarmUp(), warm_up)])
            pcoll = (pcoll, start) | f"{label} with warm-up" >> beam.Flatten()
        results, errors = pcoll | label >> RunInference(handler).with_exception_handling()
        failures = errors.failed_inferences
        if warming:
            failures = failures | f"{label} failures after warm-up" >> beam.FlatMap(_real_failures)
            results = results | f"{label} results after warm-up" >> beam.Filter(_not_warm_up)
        convert = failed_batches(self.job, stage, reason, element_id, self.namespace)
        self._dead.append(failures | f"{label} failures" >> beam.FlatMap(convert))
        return results

    def dead_letters(self, label: str = "dead letters"):
        import apache_beam as beam

        return tuple(self._dead) | label >> beam.Flatten()
