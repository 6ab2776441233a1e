"""What a job does with a message it receives: Klio's routing rules as pure functions.

Order (as Klio's receipt steps): intended recipients -> audit log -> (our ID validation) -> ping
-> output exists + force -> input exists -> the job's transforms. Pass-throughs (ping, output
exists and not forced) go to the event output unchanged so children are still triggered.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Callable, Generator, Mapping, Sequence

from jobgraph.config import DataIO, JobConfig
from jobgraph.ids import InvalidElementId, validate_id
from jobgraph.message import KlioJob, KlioMessage, Version, append_audit_log, job_in, job_key


class Outcome(enum.Enum):
    DROP_NO_RECIPIENTS = "drop-no-recipients"   # v2 message with intended_recipients unset
    DROP_NOT_RECIPIENT = "drop-not-recipient"   # limited to other jobs / v1 downstream without us
    INVALID_ID = "invalid-id"                   # dead letter: never reaches a path
    PING = "ping"                               # pass-through, no work
    OUTPUT_EXISTS = "output-exists"             # pass-through, already done (not forced)
    INPUT_MISSING = "input-missing"             # trigger the parent or dead-letter
    PROCESS = "process"                         # hand to the job's transforms


@dataclasses.dataclass
class Decision:
    outcome: Outcome
    message: KlioMessage
    element_id: str = ""
    detail: str = ""
    forced: bool = False  # processed although the output exists


def check_recipients(msg: KlioMessage, me: KlioJob) -> Outcome | None:
    """Klio's recipient check; flips `limited` to `anyone` when we are `trigger_children_of`.

    Returns None to process or the drop outcome. Mutates `msg` only on the flip.
    """
    if msg.version == Version.V2:
        recipients = msg.metadata.intended_recipients
        which = recipients.WhichOneof("recipients")
        if which is None:
            return Outcome.DROP_NO_RECIPIENTS
        if which == "anyone":
            return None
        limited = recipients.limited
        if not job_in(me, limited.recipients):
            return Outcome.DROP_NOT_RECIPIENT
        if limited.HasField("trigger_children_of") and job_key(limited.trigger_children_of) == job_key(me):
            recipients.anyone.SetInParent()  # clears `limited` (oneof)
        return None
    downstream = msg.metadata.downstream  # v1 (and UNKNOWN with both IDs set)
    if not downstream or job_in(me, downstream):
        return None
    return Outcome.DROP_NOT_RECIPIENT


def effective_ping(msg: KlioMessage, data_input: DataIO | None) -> bool:
    """Klio ORs the message flag with data.inputs[0].ping; no data input means ping is ignored."""
    return data_input is not None and (msg.metadata.ping or data_input.ping)


def effective_force(msg: KlioMessage, data_output: DataIO | None) -> bool:
    return msg.metadata.force or bool(data_output and data_output.force)


def data_path(data: DataIO, element_id: str) -> str:
    """{location}/{id}{suffix}; `element_id` must already be validated."""
    return f"{data.location.rstrip('/')}/{element_id}{data.file_suffix}"


def route_steps(msg: KlioMessage, job: JobConfig) -> Generator[str, bool, Decision]:
    """Klio's receipt steps for one message as a generator: it yields each path whose existence
    it needs (output, then maybe input), is sent the answer, and returns the Decision. The
    questions are the same as route()'s, so a caller can answer many messages' questions at
    once (route_all). Mutates `msg` (recipient flip, audit log) as Klio does."""
    me = job.identity
    dropped = check_recipients(msg, me)
    if dropped is not None:
        return Decision(dropped, msg)
    append_audit_log(msg, me)
    try:
        element_id = validate_id(msg.data.element, job.id_pattern)
    except InvalidElementId as exc:
        return Decision(Outcome.INVALID_ID, msg, detail=str(exc))
    if effective_ping(msg, job.data_input):
        return Decision(Outcome.PING, msg, element_id)
    forced = False
    out = job.data_output
    if out is not None and not out.skip_klio_existence_check and (yield data_path(out, element_id)):
        if not effective_force(msg, out):
            return Decision(Outcome.OUTPUT_EXISTS, msg, element_id, data_path(out, element_id))
        forced = True
    inp = job.data_input
    if inp is not None and not inp.skip_klio_existence_check:
        path = data_path(inp, element_id)
        if not (yield path):
            return Decision(Outcome.INPUT_MISSING, msg, element_id, path, forced)
    return Decision(Outcome.PROCESS, msg, element_id, forced=forced)


def route(msg: KlioMessage, job: JobConfig, exists: Callable[[str], bool]) -> Decision:
    """Decide what `job` does with a received (parsed, normalised) message, asking `exists`
    one path at a time; its errors propagate. Mutates `msg` as route_steps does."""
    steps = route_steps(msg, job)
    try:
        path = next(steps)
        while True:
            path = steps.send(bool(exists(path)))
    except StopIteration as done:
        return done.value


def route_all(msgs: Sequence[KlioMessage], job: JobConfig,
              exists_many: Callable[[list[str]], Mapping[str, bool | Exception]]
              ) -> list[Decision | Exception]:
    """route() for many messages, their existence questions asked together: one call of
    `exists_many(paths) -> {path: True/False or the error}` per round (output paths, then the
    input paths of those that need them). An error answers only the messages that asked that
    path: their entry is the Exception (as route() would have raised it), the others' a Decision."""
    results: list[Decision | Exception | None] = [None] * len(msgs)
    steps = [route_steps(msg, job) for msg in msgs]
    asked = {}

    def advance(i: int, answer: bool | None) -> None:
        try:
            asked[i] = next(steps[i]) if answer is None else steps[i].send(answer)
        except StopIteration as done:
            results[i] = done.value
        except Exception as exc:  # noqa: BLE001 - route() would raise it; one message only
            results[i] = exc

    for i in range(len(msgs)):
        advance(i, None)
    while asked:
        round_, asked = asked, {}
        answers = exists_many(sorted(set(round_.values())))
        for i, path in round_.items():
            answer = answers[path]
            if isinstance(answer, Exception):
                steps[i].close()
                results[i] = answer
            else:
                advance(i, bool(answer))
    return results  # type: ignore[return-value] - every message ends with a result


class UpstreamLoop(RuntimeError):
    reason = "input-missing-after-upstream"


def upstream_request(msg: KlioMessage, me: KlioJob, parent: KlioJob) -> KlioMessage:
    """The message to publish to the parent when our input is missing (bottom-up trigger).

    recipients += [parent, me]; `trigger_children_of = me` only when the message came top-down
    (`anyone`), so that after regeneration our children run too; a bottom-up request stays
    limited, so nothing below the target runs. Raises UpstreamLoop if the parent was already
    asked for this message (it ran and our input is still missing).
    """
    new = KlioMessage()
    new.CopyFrom(msg)
    if new.version != Version.V2:  # v1 routing cannot express recipients: continue as v2
        new.version = Version.V2
        del new.metadata.downstream[:]
    recipients = new.metadata.intended_recipients
    was_top_down = recipients.WhichOneof("recipients") != "limited"
    limited = recipients.limited
    if job_in(parent, limited.recipients):
        raise UpstreamLoop(f"input still missing after the parent job {parent.job_name} was triggered")
    limited.recipients.append(parent)
    if not job_in(me, limited.recipients):
        limited.recipients.append(me)
    if was_top_down:
        limited.trigger_children_of.CopyFrom(me)
    return new
