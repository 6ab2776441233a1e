"""KlioMessage: wire compatibility with Klio's schema, parsing, v1 -> v2 normalisation."""
from __future__ import annotations

import random

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import timestamp_pb2  # noqa: F401  (registers timestamp.proto in the default pool)

from jobgraph import message as m
from jobgraph.klio_pb2 import KlioMessage, Version

F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
    field = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof
    return field


def klio_original_schema():
    """KlioMessage as declared by Spotify Klio's klio.proto (klio-core 22.3.0), built field by
    field from that declaration in a separate descriptor pool, so the test does
    not depend on our .proto or generated code."""
    pool = descriptor_pool.DescriptorPool()
    ts = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.Timestamp.DESCRIPTOR.file.CopyToProto(ts)
    pool.Add(ts)
    f = descriptor_pb2.FileDescriptorProto(name="klio_original.proto", syntax="proto3",
                                           dependency=["google/protobuf/timestamp.proto"])
    version = f.enum_type.add(name="Version")
    for name, number in (("UNKNOWN", 0), ("V1", 1), ("V2", 2)):
        version.value.add(name=name, number=number)
    job = f.message_type.add(name="KlioJob")
    job_input = job.nested_type.add(name="JobInput")
    _field(job_input, "topic", 1, F.TYPE_STRING)
    _field(job_input, "subscription", 2, F.TYPE_STRING)
    _field(job_input, "data_location", 3, F.TYPE_STRING)
    _field(job, "job_name", 1, F.TYPE_STRING)
    _field(job, "gcp_project", 2, F.TYPE_STRING)
    _field(job, "inputs", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".KlioJob.JobInput")
    audit = f.message_type.add(name="KlioJobAuditLogItem")
    _field(audit, "timestamp", 1, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    _field(audit, "klio_job", 2, F.TYPE_MESSAGE, type_name=".KlioJob")
    kmsg = f.message_type.add(name="KlioMessage")
    meta = kmsg.nested_type.add(name="Metadata")
    recipients = meta.nested_type.add(name="Recipients")
    recipients.nested_type.add(name="Anyone")
    limited = recipients.nested_type.add(name="Limited")
    _field(limited, "recipients", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".KlioJob")
    _field(limited, "trigger_children_of", 2, F.TYPE_MESSAGE, type_name=".KlioJob")
    recipients.oneof_decl.add(name="recipients")
    _field(recipients, "anyone", 1, F.TYPE_MESSAGE, type_name=".KlioMessage.Metadata.Recipients.Anyone", oneof=0)
    _field(recipients, "limited", 2, F.TYPE_MESSAGE, type_name=".KlioMessage.Metadata.Recipients.Limited", oneof=0)
    _field(meta, "downstream", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".KlioJob")
    _field(meta, "visited", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".KlioJob")
    _field(meta, "job_audit_log", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".KlioJobAuditLogItem")
    _field(meta, "force", 4, F.TYPE_BOOL)
    _field(meta, "ping", 5, F.TYPE_BOOL)
    _field(meta, "intended_recipients", 6, F.TYPE_MESSAGE, type_name=".KlioMessage.Metadata.Recipients")
    data = kmsg.nested_type.add(name="Data")
    _field(data, "entity_id", 1, F.TYPE_STRING)
    _field(data, "payload", 2, F.TYPE_BYTES)
    _field(data, "element", 3, F.TYPE_BYTES)
    _field(kmsg, "metadata", 1, F.TYPE_MESSAGE, type_name=".KlioMessage.Metadata")
    _field(kmsg, "data", 2, F.TYPE_MESSAGE, type_name=".KlioMessage.Data")
    _field(kmsg, "version", 3, F.TYPE_ENUM, type_name=".Version")
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("KlioMessage"))


Original = klio_original_schema()


def _fill(msg, rnd: random.Random):
    """Populate every field of a KlioMessage-shaped message (ours or the original class)."""
    msg.version = rnd.choice([0, 1, 2])
    msg.data.element = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 20)))
    msg.data.entity_id = f"entity-{rnd.randrange(1000)}"
    msg.data.payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 50)))
    md = msg.metadata
    md.force, md.ping = rnd.random() < 0.5, rnd.random() < 0.5
    for repeated in (md.downstream, md.visited):
        job = repeated.add(job_name=f"j{rnd.randrange(9)}", gcp_project="p")
        job.inputs.add(topic="t", subscription="s", data_location="d")
    item = md.job_audit_log.add()
    item.timestamp.seconds, item.timestamp.nanos = rnd.randrange(2**31), rnd.randrange(10**9)
    item.klio_job.job_name, item.klio_job.gcp_project = "audited", "proj"
    if rnd.random() < 0.5:
        md.intended_recipients.anyone.SetInParent()
    else:
        lim = md.intended_recipients.limited
        lim.recipients.add(job_name="a", gcp_project="p")
        lim.recipients.add(job_name="b", gcp_project="p")
        lim.trigger_children_of.job_name = "b"
        lim.trigger_children_of.gcp_project = "p"


@pytest.mark.parametrize("seed", range(20))
def test_wire_format_is_byte_identical_with_klio_schema(seed):
    ours, theirs = KlioMessage(), Original()
    _fill(ours, random.Random(seed))
    _fill(theirs, random.Random(seed))
    ours_bytes = ours.SerializeToString(deterministic=True)
    assert ours_bytes == theirs.SerializeToString(deterministic=True)
    # and each side parses the other's bytes back to the same bytes
    parsed_by_klio = Original.FromString(ours_bytes)
    assert parsed_by_klio.SerializeToString(deterministic=True) == ours_bytes
    assert KlioMessage.FromString(theirs.SerializeToString()).SerializeToString(deterministic=True) == ours_bytes


def test_known_bytes_of_a_publish_message():
    # `klio message publish --top-down abc` in Klio produces exactly these bytes:
    # field 1 (metadata) { field 6 (intended_recipients) { field 1 (anyone) {} } },
    # field 2 (data) { field 3 (element) "abc" }, field 3 (version) V2.
    msg = m.new_message("abc", top_down=True)
    assert msg.SerializeToString() == b"\x0a\x04\x32\x02\x0a\x00\x12\x05\x1a\x03abc\x18\x02"
    theirs = Original.FromString(msg.SerializeToString())
    assert theirs.metadata.intended_recipients.WhichOneof("recipients") == "anyone"
    assert theirs.data.element == b"abc"


def test_full_names_match_klio_without_package():
    assert KlioMessage.DESCRIPTOR.full_name == "KlioMessage"
    assert Original.DESCRIPTOR.full_name == "KlioMessage"


def _raw(version=None, element=b"", entity_id=""):
    msg = KlioMessage()
    if version is not None:
        msg.version = version
    msg.data.element, msg.data.entity_id = element, entity_id
    return msg.SerializeToString()


@pytest.mark.parametrize("version,element,entity_id,want_version,want_element", [
    (Version.V1, b"", "e1", Version.V1, b"e1"),          # v1: element copied from entity_id
    (Version.V1, b"x", "e1", Version.V1, b"x"),          # v1 with element keeps it
    (None, b"", "e2", Version.V1, b"e2"),                # unknown + entity_id -> V1
    (None, b"el", "", Version.V2, b"el"),                # unknown + element -> V2
    (None, b"el", "e3", Version.UNKNOWN, b"el"),         # both set: stays UNKNOWN
    (Version.V2, b"el", "", Version.V2, b"el"),
])
def test_v1_to_v2_normalisation(version, element, entity_id, want_version, want_element):
    msg = m.parse(_raw(version, element, entity_id))
    assert msg.version == want_version
    assert msg.data.element == want_element


@pytest.mark.parametrize("raw", [b"\xff\xfe\xfd not proto", b"", _raw(Version.V2)])
def test_non_klio_bytes_rejected_without_allow(raw):
    with pytest.raises(m.UnparseableMessage):
        m.parse(raw, allow_non_klio_messages=False)


def test_non_klio_bytes_accepted_with_allow():
    msg = m.parse(b"\xff\xfe raw id", allow_non_klio_messages=True)
    assert msg.version == Version.V2
    assert msg.data.element == b"\xff\xfe raw id"
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "anyone"


def test_klio_message_still_parsed_as_klio_when_non_klio_allowed():
    raw = m.new_message("vid1", job=m.job_identity("j", "p"), ping=True).SerializeToString()
    msg = m.parse(raw, allow_non_klio_messages=True)
    assert msg.metadata.ping and msg.data.element == b"vid1"
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "limited"


def test_new_message_bottom_up_is_limited_to_the_job():
    job = m.job_identity("video-iab", "proj")
    msg = m.new_message("v", job=job, force=True)
    assert [m.job_key(j) for j in msg.metadata.intended_recipients.limited.recipients] == ["proj-video-iab"]
    assert msg.metadata.force and not msg.metadata.ping
    with pytest.raises(ValueError):
        m.new_message("v")


def test_audit_log_appends_job_and_time():
    msg = m.new_message("v", top_down=True)
    m.append_audit_log(msg, m.job_identity("a", "p"))
    m.append_audit_log(msg, m.job_identity("b", "p"))
    assert [i.klio_job.job_name for i in msg.metadata.job_audit_log] == ["a", "b"]
    assert all(i.timestamp.seconds > 1_700_000_000 for i in msg.metadata.job_audit_log)
