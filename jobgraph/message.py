"""KlioMessage parsing, v1 -> v2 normalisation, job identity and message construction.

Semantics follow Klio's `klio.message.serializer` (same normalisation and recipients), with one fix:
bytes that are not a KlioMessage raise `UnparseableMessage` instead of crashing the pipeline.
"""
from __future__ import annotations

import datetime

from google.protobuf import message as pb_message

from jobgraph.klio_pb2 import KlioJob, KlioJobAuditLogItem, KlioMessage, Version

__all__ = [
    "KlioJob", "KlioJobAuditLogItem", "KlioMessage", "Version", "UnparseableMessage",
    "parse", "job_identity", "job_key", "job_in", "new_message", "append_audit_log",
]


class UnparseableMessage(ValueError):
    """Received bytes are not a KlioMessage and the job does not accept non-Klio messages."""

    reason = "unparseable-message"


def job_identity(job_name: str, gcp_project: str) -> KlioJob:
    """The KlioJob that identifies a job in recipients and audit logs."""
    return KlioJob(job_name=job_name, gcp_project=gcp_project or "")


def job_key(job: KlioJob) -> str:
    """Klio compares jobs by the string f"{gcp_project}-{job_name}"."""
    return f"{job.gcp_project}-{job.job_name}"


def job_in(job: KlioJob, jobs) -> bool:
    key = job_key(job)
    return any(job_key(j) == key for j in jobs)


def _normalise_version(msg: KlioMessage) -> None:
    """Klio's `_handle_msg_compat`: v1 messages get `element` from `entity_id`."""
    data = msg.data
    if msg.version == Version.V1:
        if data.entity_id and not data.element:
            data.element = data.entity_id.encode("utf-8")
    elif msg.version == Version.UNKNOWN:
        if data.entity_id and not data.element:
            msg.version = Version.V1
            data.element = data.entity_id.encode("utf-8")
        elif not data.entity_id and not data.element:
            msg.version = Version.V1
        elif data.element and not data.entity_id:
            msg.version = Version.V2
        # both set: stays UNKNOWN and is routed as v1, as in Klio


def _non_klio(raw: bytes) -> KlioMessage:
    msg = KlioMessage(version=Version.V2)
    msg.data.element = raw
    msg.metadata.intended_recipients.anyone.SetInParent()
    return msg


def parse(raw: bytes, allow_non_klio_messages: bool = False) -> KlioMessage:
    """Bytes from an event input -> normalised KlioMessage.

    Protobuf parsing is lenient (many byte strings parse as a message of unknown fields), so a
    parse that yields neither `element` nor `entity_id` is treated as "not a KlioMessage" too.
    Non-Klio bytes become a v2 message addressed to anyone with the raw bytes as element when
    `allow_non_klio_messages`, else raise UnparseableMessage.
    """
    msg = KlioMessage()
    try:
        msg.ParseFromString(raw)
        parsed = bool(msg.data.element or msg.data.entity_id)
    except pb_message.DecodeError:
        parsed = False
    if not parsed:
        if allow_non_klio_messages and raw:
            return _non_klio(raw)
        raise UnparseableMessage(f"not a KlioMessage ({len(raw)} bytes: {raw[:40]!r})")
    _normalise_version(msg)
    return msg


def new_message(element: str | bytes, *, job: KlioJob | None = None, top_down: bool = False,
                ping: bool = False, force: bool = False, payload: bytes = b"") -> KlioMessage:
    """A v2 message as `klio message publish` builds it: bottom-up (limited to `job`) unless top_down."""
    msg = KlioMessage(version=Version.V2)
    msg.data.element = element.encode("utf-8") if isinstance(element, str) else element
    msg.data.payload = payload
    msg.metadata.ping = ping
    msg.metadata.force = force
    if top_down:
        msg.metadata.intended_recipients.anyone.SetInParent()
    else:
        if job is None:
            raise ValueError("a bottom-up message needs the target job")
        msg.metadata.intended_recipients.limited.recipients.append(job)
    return msg


def append_audit_log(msg: KlioMessage, job: KlioJob, now: datetime.datetime | None = None) -> None:
    """Append {now, job} to the message's audit log (in place)."""
    item = msg.metadata.job_audit_log.add()
    item.timestamp.FromDatetime(now or datetime.datetime.now(datetime.timezone.utc))
    item.klio_job.CopyFrom(job)
