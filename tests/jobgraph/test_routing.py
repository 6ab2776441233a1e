"""Klio's routing rules, ping/force/existence, audit log, upstream."""
from __future__ import annotations

import itertools

import pytest

from jobgraph.message import KlioMessage, Version, job_identity, new_message
from jobgraph.routing import Outcome, UpstreamLoop, check_recipients, route, upstream_request

ME = job_identity("child", "proj")
PARENT = job_identity("parent", "proj")
OTHER = job_identity("other", "proj")


def v2(recipients=None, tcof=None, element=b"vid1"):
    msg = KlioMessage(version=Version.V2)
    msg.data.element = element
    if recipients == "anyone":
        msg.metadata.intended_recipients.anyone.SetInParent()
    elif recipients is not None:
        lim = msg.metadata.intended_recipients.limited
        lim.recipients.extend(recipients)
        if tcof is not None:
            lim.trigger_children_of.CopyFrom(tcof)
    return msg


# --- §1.2 v2 table ---------------------------------------------------------------------------

def test_v2_unset_recipients_dropped():
    assert check_recipients(v2(None), ME) is Outcome.DROP_NO_RECIPIENTS


def test_v2_anyone_processed():
    msg = v2("anyone")
    assert check_recipients(msg, ME) is None
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "anyone"


def test_v2_limited_without_this_job_dropped():
    assert check_recipients(v2([OTHER, PARENT]), ME) is Outcome.DROP_NOT_RECIPIENT


def test_v2_limited_with_this_job_as_trigger_children_of_flips_to_anyone():
    msg = v2([PARENT, ME], tcof=ME)
    assert check_recipients(msg, ME) is None
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "anyone"


def test_v2_limited_with_this_job_stays_limited():
    msg = v2([ME, PARENT], tcof=OTHER)
    assert check_recipients(msg, ME) is None
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "limited"


def test_identity_compares_project_too():
    assert check_recipients(v2([job_identity("child", "another-project")]), ME) is Outcome.DROP_NOT_RECIPIENT


# --- v1 --------------------------------------------------------------------------------------

def v1(downstream):
    msg = KlioMessage(version=Version.V1)
    msg.data.entity_id = "vid1"
    msg.data.element = b"vid1"
    msg.metadata.downstream.extend(downstream)
    return msg


@pytest.mark.parametrize("downstream,processed", [([], True), ([ME], True), ([OTHER, ME], True), ([OTHER], False)])
def test_v1_downstream(downstream, processed):
    assert (check_recipients(v1(downstream), ME) is None) == processed


# --- full receipt order: ping / output exists / force / input exists --------------------------

CASES = list(itertools.product([False, True], repeat=6))


@pytest.mark.parametrize("msg_ping,cfg_ping,out_exists,msg_force,cfg_force,in_exists", CASES)
def test_ping_force_exists_combinations(make_job, tmp_path, msg_ping, cfg_ping, out_exists,
                                        msg_force, cfg_force, in_exists):
    job = make_job(in_ping=cfg_ping, out_force=cfg_force)
    existing = set()
    if out_exists:
        existing.add(f"{tmp_path}/out/vid1.json")
    if in_exists:
        existing.add(f"{tmp_path}/in/vid1.txt")
    msg = new_message("vid1", top_down=True, ping=msg_ping, force=msg_force)
    decision = route(msg, job, existing.__contains__)
    if msg_ping or cfg_ping:
        expected = Outcome.PING                       # no existence checks, no work
    elif out_exists and not (msg_force or cfg_force):
        expected = Outcome.OUTPUT_EXISTS              # pass-through: already done
    elif not in_exists:
        expected = Outcome.INPUT_MISSING
    else:
        expected = Outcome.PROCESS
    assert decision.outcome is expected
    assert decision.forced == (expected in (Outcome.PROCESS, Outcome.INPUT_MISSING)
                               and out_exists and (msg_force or cfg_force))
    assert [i.klio_job.job_name for i in msg.metadata.job_audit_log] == ["child"]


def test_existence_not_checked_when_skipped(make_job):
    import dataclasses
    job = make_job()
    job = dataclasses.replace(
        job, data_input=dataclasses.replace(job.data_input, skip_klio_existence_check=True),
        data_output=dataclasses.replace(job.data_output, skip_klio_existence_check=True))
    def exists(path):
        raise AssertionError(f"checked {path}")
    assert route(new_message("vid1", top_down=True), job, exists).outcome is Outcome.PROCESS


def test_ping_ignored_without_data_input(make_job):
    import dataclasses
    job = dataclasses.replace(make_job(), data_input=None)
    decision = route(new_message("vid1", top_down=True, ping=True), job, lambda p: False)
    assert decision.outcome is Outcome.PROCESS


def test_drop_happens_before_audit_log(make_job):
    msg = v2([OTHER])
    assert route(msg, make_job(), lambda p: True).outcome is Outcome.DROP_NOT_RECIPIENT
    assert len(msg.metadata.job_audit_log) == 0


@pytest.mark.parametrize("element", [b"../etc/passwd", b"a/b", b"", b"\xff\xfe", b"-leading", b"x" * 200, b"ok id"])
def test_invalid_ids_never_reach_a_path(make_job, element):
    def exists(path):
        raise AssertionError(f"a path was built: {path}")
    decision = route(new_message(element, top_down=True), make_job(), exists)
    assert decision.outcome is Outcome.INVALID_ID
    assert "ID pattern" in decision.detail or "UTF-8" in decision.detail


def test_paths_use_location_id_and_suffix(make_job, tmp_path):
    seen = []
    route(new_message("Ab_9-z", top_down=True), make_job(), lambda p: seen.append(p) or True)
    assert seen == [f"{tmp_path}/out/Ab_9-z.json"]


# --- bottom-up trigger -----------------------------------------------------------------------

def test_upstream_request_from_top_down_message_sets_trigger_children_of():
    msg = v2("anyone")
    msg.metadata.ping, msg.metadata.force = False, True
    req = upstream_request(msg, ME, PARENT)
    lim = req.metadata.intended_recipients.limited
    assert [j.job_name for j in lim.recipients] == ["parent", "child"]
    assert lim.trigger_children_of.job_name == "child"
    assert req.metadata.force  # flags are kept
    assert msg.metadata.intended_recipients.WhichOneof("recipients") == "anyone"  # original untouched


def test_upstream_request_from_bottom_up_message_stays_bottom_up():
    req = upstream_request(v2([ME]), ME, PARENT)
    lim = req.metadata.intended_recipients.limited
    assert [j.job_name for j in lim.recipients] == ["child", "parent"]
    assert not lim.HasField("trigger_children_of")


def test_upstream_request_keeps_existing_trigger_children_of():
    req = upstream_request(v2([ME, OTHER], tcof=OTHER), ME, PARENT)
    assert req.metadata.intended_recipients.limited.trigger_children_of.job_name == "other"


def test_upstream_request_twice_is_a_loop():
    once = upstream_request(v2("anyone"), ME, PARENT)
    with pytest.raises(UpstreamLoop):
        upstream_request(once, ME, PARENT)


def test_upstream_request_from_v1_continues_as_v2():
    req = upstream_request(v1([ME]), ME, PARENT)
    assert req.version == Version.V2 and len(req.metadata.downstream) == 0
    assert check_recipients(req, PARENT) is None and check_recipients(req, ME) is None
