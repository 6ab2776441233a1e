"""The Dataflow lifecycle with Klio's verbs (`klio job run|stop|delete|deploy`, `--update`),
asserted on the requests each command sends to a local stand-in of the Dataflow REST API
(tests/dataflow_standin.py: the real service cannot exist here) and, for submissions, with the
pipeline staged to the GCS emulator: Beam's own DataflowRunner builds, stages and submits.

Nothing leaves loopback: the stand-in and the emulators listen on 127.0.0.1, and every test
runs with a dead HTTP(S) proxy for everything else, so a call to a Google endpoint fails.
"""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from jobgraph import dataflow
from jobgraph.cli import cli
from tests.dataflow_standin import DataflowStandIn, state_name
from tests.jobgraph import toygraph
from tests.jobgraph.inprocess import klio_main, offline

PROJECT, REGION = "my-proj", "europe-west1"
BUCKET_ROOT = "gs://test-bucket/lifecycle"
JOBS_PATH = f"/v1b3/projects/{PROJECT}/locations/{REGION}/jobs"


@pytest.fixture(autouse=True)
def offline_and_quick(monkeypatch):
    """Nothing leaves loopback; stopped jobs are polled every 50 ms at first."""
    offline(monkeypatch)
    monkeypatch.setattr(dataflow, "FIRST_POLL_S", 0.05)


@pytest.fixture
def standin():
    with DataflowStandIn(settle_after=1) as server:
        yield server


def dataflow_args(tmp_path, url: str, *extra: str) -> list[str]:
    """The toy graph on gs:// locations, for DataflowRunner at the stand-in `url`."""
    return ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(BUCKET_ROOT, PROJECT),
            "-O", "pipeline_options.runner=DataflowRunner", "-O", f"pipeline_options.region={REGION}",
            "-O", "pipeline_options.temp_location=gs://test-bucket/tmp", "-O", "pipeline_options.no_auth=true",
            "-O", f"pipeline_options.dataflow_endpoint={url}",
            "-O", "pipeline_options.sdk_container_image=europe-west1-docker.pkg.dev/my-proj/ml/toy:1", *extra]


def updates(server: DataflowStandIn) -> list[tuple[str, str]]:
    """(job id, requested state name) of every update request, in order."""
    return [(r["path"].rsplit("/", 1)[1], state_name(r["body"]["requestedState"])) for r in server.calls("PUT")]


# -- stop --------------------------------------------------------------------------------------

def test_stop_cancels_the_running_job_found_by_name_and_waits_for_it(tmp_path, standin, monkeypatch, capsys):
    old = standin.add_job("toy-count", state="JOB_STATE_CANCELLED")
    running = standin.add_job("toy-count")
    other = standin.add_job("someone-else")
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--job", "toy-count",
                               *dataflow_args(tmp_path, standin.url))
    assert code == 0, err
    lists = standin.calls("GET", "/jobs")
    assert len(lists) == 1 and lists[0]["path"] == JOBS_PATH
    assert lists[0]["query"]["filter"] in (["3"], ["ACTIVE"])  # the active jobs only
    assert updates(standin) == [(running, "JOB_STATE_CANCELLED")]  # Klio's stop: cancel
    gets = [r for r in standin.calls("GET") if r["path"] == f"{JOBS_PATH}/{running}"]
    assert len(gets) == 2  # polled until terminal: CANCELLING, then CANCELLED
    assert standin.jobs[running]["currentState"] == "JOB_STATE_CANCELLED"
    assert standin.jobs[other]["currentState"] == "JOB_STATE_RUNNING"
    assert old not in out
    assert out.splitlines()[-1] == f"klio job stop: toy-count (job {running}) ended JOB_STATE_CANCELLED"


def test_stop_with_drain_requests_drained(tmp_path, standin, monkeypatch, capsys):
    running = standin.add_job("toy-count")
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--drain", "--job", "toy-count",
                               *dataflow_args(tmp_path, standin.url))
    assert code == 0, err
    assert updates(standin) == [(running, "JOB_STATE_DRAINED")]
    assert f"toy-count (job {running}) ended JOB_STATE_DRAINED" in out


def test_stop_without_job_stops_every_pipeline_of_the_graph(tmp_path, standin, monkeypatch, capsys):
    ids = {name: standin.add_job(name) for name in ("toy-upper", "toy-count", "toy-upper-graph")}
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", *dataflow_args(tmp_path, standin.url))
    assert code == 0, err
    assert sorted(updates(standin)) == sorted((i, "JOB_STATE_CANCELLED") for i in ids.values())
    assert all(job["currentState"] == "JOB_STATE_CANCELLED" for job in standin.jobs.values())


def test_stop_with_nothing_running_says_so_and_succeeds(tmp_path, standin, monkeypatch, capsys):
    standin.add_job("toy-count", state="JOB_STATE_DONE")
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--job", "toy-count",
                               *dataflow_args(tmp_path, standin.url))
    assert code == 0, err
    assert out.strip() == f"klio job stop: no active Dataflow job named toy-count in {PROJECT}/{REGION}"
    assert [r["method"] for r in standin.requests] == ["GET"]


def test_stop_times_out_in_one_line_when_the_job_does_not_end(tmp_path, monkeypatch, capsys):
    with DataflowStandIn(stuck=True) as server:
        running = server.add_job("toy-count")
        start = time.monotonic()
        code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--job", "toy-count", "--timeout", "1",
                                   *dataflow_args(tmp_path, server.url))
        elapsed = time.monotonic() - start
    assert code == 1
    assert err.strip() == (f"klio: error: Dataflow job toy-count ({running}) still JOB_STATE_CANCELLING "
                           f"after 1 s: see https://console.cloud.google.com/dataflow/jobs/{REGION}/"
                           f"{running}?project={PROJECT}")
    assert 1.0 <= elapsed < 5.0


def test_stop_against_an_unreachable_service_is_one_line(tmp_path, monkeypatch, capsys):
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--job", "toy-count",
                               *dataflow_args(tmp_path, "http://localhost:9"))
    assert code == 1
    assert err.startswith("klio: error: Dataflow unreachable at http://localhost:9 (") and err.count("\n") == 1


def test_stop_needs_the_region(tmp_path, standin, monkeypatch, capsys):
    args = dataflow_args(tmp_path, standin.url)
    at = args.index(f"pipeline_options.region={REGION}")
    del args[at - 1:at + 1]
    code, out, err = klio_main(monkeypatch, capsys, "job", "stop", "--job", "toy-count", *args)
    assert code == 1
    assert err.strip().endswith("job toy-count: pipeline_options.region: expected the job's Dataflow "
                                "region (e.g. europe-west1)")
    assert standin.requests == []


# -- delete ------------------------------------------------------------------------------------

def _pubsub_setup(project: str) -> tuple[object, object]:
    """The toy graph's topics and subscriptions, created on the emulator."""
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in ("toy-upper-in", "toy-upper-out", "toy-count-out", "toy-dead-letter"):
        publisher.create_topic(request={"name": f"projects/{project}/topics/{topic}"})
    for sub, topic in (("toy-upper-in", "toy-upper-in"), ("toy-count-in", "toy-upper-out")):
        subscriber.create_subscription(request={"name": f"projects/{project}/subscriptions/{sub}",
                                                "topic": f"projects/{project}/topics/{topic}"})
    return publisher, subscriber


def _existing(publisher, subscriber, project: str) -> tuple[set, set]:
    topics = {t.name.rsplit("/", 1)[1] for t in publisher.list_topics(request={"project": f"projects/{project}"})}
    subs = {s.name.rsplit("/", 1)[1]
            for s in subscriber.list_subscriptions(request={"project": f"projects/{project}"})}
    return topics, subs


@pytest.mark.emulator
def test_delete_cancels_then_deletes_the_graphs_pubsub_but_no_storage(tmp_path, standin, monkeypatch, capsys,
                                                                     pubsub_emulator, gcs_emulator):
    from google.cloud import storage

    project = "delete-proj"  # its own project on the shared emulator
    publisher, subscriber = _pubsub_setup(project)
    blob = storage.Client(project=project).bucket("test-bucket").blob("lifecycle/out/x.json")
    blob.upload_from_string(b"{}")
    running = standin.add_job("toy-count", project=project)
    args = [a.replace(f"={PROJECT}", f"={project}") for a in dataflow_args(tmp_path, standin.url)]
    code, out, err = klio_main(monkeypatch, capsys, "job", "delete", "--yes", *args)
    assert code == 0, err
    assert updates(standin) == [(running, "JOB_STATE_CANCELLED")]
    assert out.splitlines()[-4:] == [
        f"deleted  subscription projects/{project}/subscriptions/toy-upper-in",
        f"deleted  subscription projects/{project}/subscriptions/toy-count-in",
        f"deleted  topic        projects/{project}/topics/toy-upper-out",
        f"deleted  topic        projects/{project}/topics/toy-count-out"]
    topics, subs = _existing(publisher, subscriber, project)
    assert topics == {"toy-upper-in", "toy-dead-letter"} and subs == set()  # uploads' topic, dead letters kept
    assert blob.exists() and blob.download_as_bytes() == b"{}"  # storage untouched
    code, out, err = klio_main(monkeypatch, capsys, "job", "delete", "--yes", *args)  # again: all absent
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[-4:]] == ["absent"] * 4


@pytest.mark.emulator
def test_delete_asks_first_and_does_nothing_when_not_confirmed(tmp_path, standin, pubsub_emulator):
    project = "delete-ask-proj"
    publisher, subscriber = _pubsub_setup(project)
    standin.add_job("toy-count", project=project)
    args = [a.replace(f"={PROJECT}", f"={project}") for a in dataflow_args(tmp_path, standin.url)]
    result = CliRunner().invoke(cli, ["job", "delete", "--job", "toy-count", *args], input="n\n")
    assert result.exit_code == 1 and "Continue?" in result.output
    assert f"subscription projects/{project}/subscriptions/toy-count-in" in result.output
    assert standin.calls("PUT") == [] and _existing(publisher, subscriber, project)[1] == {
        "toy-upper-in", "toy-count-in"}


# -- run, deploy, --update ------------------------------------------------------------------------

def _creates(server: DataflowStandIn) -> list[dict]:
    return [r["body"] for r in server.calls("POST") if r["path"] == JOBS_PATH]


@pytest.mark.emulator
def test_run_on_dataflow_returns_once_launched_with_the_job_id_and_console_url(tmp_path, gcs_emulator):
    """A real submission through Beam's DataflowRunner (staged to the GCS emulator) in its own
    process, as a user runs it: it must end within 10 s of the create request."""
    with DataflowStandIn() as server:
        proc = toygraph.klio("job", "run", "--job", "toy-count", *dataflow_args(tmp_path, server.url), "a1",
                             check=False, timeout=120)
        ended = time.monotonic()
        assert proc.returncode == 0, proc.stderr[-3000:]
        (create,) = [r for r in server.calls("POST") if r["path"] == JOBS_PATH]
        (job_id,) = server.jobs
    assert create["body"]["name"] == "toy-count"  # stable: klio job stop finds it by this name
    assert ended - create["at"] < 10.0
    assert proc.stdout.splitlines() == [
        f"klio job run: toy-count launched on Dataflow as job {job_id} (state RUNNING); "
        "set job_config.blocking: true to wait for it",
        f"klio job run: console: https://console.cloud.google.com/dataflow/jobs/{REGION}/{job_id}"
        f"?project={PROJECT}"]


@pytest.mark.emulator
def test_run_with_blocking_waits_until_the_job_is_done(tmp_path, gcs_emulator, monkeypatch, capsys):
    with DataflowStandIn(finish_after=1) as server:
        code, out, err = klio_main(monkeypatch, capsys, "job", "run", "--job", "toy-count",
                                   *dataflow_args(tmp_path, server.url, "-O", "job_config.blocking=true"), "a1")
        (job_id,) = server.jobs
        assert code == 0, err
        assert server.jobs[job_id]["currentState"] == "JOB_STATE_DONE"
        done_at = max(r["at"] for r in server.calls("GET") if r["path"] == f"{JOBS_PATH}/{job_id}")
        assert server.calls("GET", "/metrics")[-1]["at"] >= done_at  # counters read after the end
    assert f"klio job run: toy-count ran on Dataflow as job {job_id}" in out
    assert "launched" not in out


@pytest.mark.emulator
def test_deploy_cancels_the_running_job_then_submits_it_again(tmp_path, standin, gcs_emulator, monkeypatch,
                                                              capsys):
    running = standin.add_job("toy-count", job_type="JOB_TYPE_BATCH")
    code, out, err = klio_main(monkeypatch, capsys, "job", "deploy", "--job", "toy-count",
                               *dataflow_args(tmp_path, standin.url), "a1")
    assert code == 0, err
    assert updates(standin) == [(running, "JOB_STATE_CANCELLED")]
    cancelled_at = max(r["at"] for r in standin.calls("GET") if r["path"] == f"{JOBS_PATH}/{running}")
    (create,) = [r for r in standin.calls("POST") if r["path"] == JOBS_PATH]
    assert create["at"] > cancelled_at  # submitted once the old job had ended
    assert create["body"]["name"] == "toy-count" and "replaceJobId" not in create["body"]
    (new_id,) = set(standin.jobs) - {running}
    assert f"launched on Dataflow as job {new_id}" in out


@pytest.mark.emulator
def test_deploy_of_a_streaming_graph_redeploys_each_job_in_its_own_process(tmp_path, standin, gcs_emulator,
                                                                         pubsub_emulator):
    """Without --job a streaming graph is one Dataflow job per job: `klio job deploy` runs one
    `klio job deploy --job NAME` per job, each cancelling and resubmitting its own, and returns
    when both are launched."""
    old = {name: standin.add_job(name) for name in ("toy-upper", "toy-count")}
    proc = toygraph.klio("job", "deploy", "--streaming", "--create-resources",
                         *dataflow_args(tmp_path, standin.url), check=False, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(updates(standin)) == sorted((i, "JOB_STATE_CANCELLED") for i in old.values())
    assert sorted(body["name"] for body in _creates(standin)) == ["toy-count", "toy-upper"]
    assert all(body["type"] in (2, "JOB_TYPE_STREAMING") for body in _creates(standin))
    launched = [line for line in proc.stdout.splitlines() if " launched on Dataflow as job " in line]
    assert sorted(line.split()[3] for line in launched) == ["toy-count", "toy-upper"]


@pytest.mark.emulator
def test_a_second_run_without_deploy_is_refused_by_the_service(tmp_path, standin, monkeypatch, capsys,
                                                               gcs_emulator):
    """Why deploy stops first: the service answers a create for an active name with that job."""
    standin.add_job("toy-count", job_type="JOB_TYPE_BATCH")
    code, out, err = klio_main(monkeypatch, capsys, "job", "run", "--job", "toy-count",
                               *dataflow_args(tmp_path, standin.url), "a1")
    assert code == 1 and "There is already active job named toy-count" in err


MAPPING = {"[toy-count] count": "[toy-count] count words"}


@pytest.mark.emulator
@pytest.mark.parametrize("verb", ["deploy", "run"])
def test_update_replaces_the_running_job_with_its_name_mapping(verb, tmp_path, standin, gcs_emulator,
                                                               pubsub_emulator, monkeypatch, capsys):
    running = standin.add_job("toy-count")
    code, out, err = klio_main(monkeypatch, capsys, "job", verb, "--job", "toy-count", "--streaming",
                               "--create-resources", "--update", "--transform-name-mapping", json.dumps(MAPPING),
                               *dataflow_args(tmp_path, standin.url))
    assert code == 0, err
    assert standin.calls("PUT") == []  # nothing cancelled: the replacement takes over
    (create,) = _creates(standin)
    assert create["replaceJobId"] == running
    assert create["transformNameMapping"] == MAPPING
    assert create["name"] == "toy-count" and create["type"] in (2, "JOB_TYPE_STREAMING")
    assert standin.jobs[running]["currentState"] == "JOB_STATE_UPDATED"


@pytest.mark.parametrize("jobs, message", [
    ([], "no running Dataflow job named toy-count in my-proj/europe-west1 to update: run without --update"),
    ([("toy-count", "JOB_STATE_PENDING")], "no running Dataflow job named toy-count in my-proj/europe-west1 "
     "to update (it is JOB_STATE_PENDING): run without --update"),
])
def test_update_without_a_running_job_is_one_line(jobs, message, tmp_path, standin, monkeypatch, capsys):
    for name, state in jobs:
        standin.add_job(name, state=state)
    code, out, err = klio_main(monkeypatch, capsys, "job", "run", "--job", "toy-count", "--streaming", "--update",
                               *dataflow_args(tmp_path, standin.url))
    assert (code, err.strip()) == (1, f"klio: error: {message}")
    assert standin.calls("POST") == []


@pytest.mark.parametrize("args, message", [
    (["--transform-name-mapping", "{}"], "--transform-name-mapping needs --update"),
    (["--update", "--transform-name-mapping", "[1]"], "--transform-name-mapping: expected a JSON object"),
    (["--update", "--transform-name-mapping", "{"], "--transform-name-mapping is not JSON"),
])
def test_update_usage_errors(args, message, tmp_path, monkeypatch, capsys):
    code, out, err = klio_main(monkeypatch, capsys, "job", "run", "--job", "toy-count", *args,
                               *dataflow_args(tmp_path, "http://localhost:9"))
    assert code == 2 and message in err


def test_update_needs_dataflow_and_streaming(tmp_path, monkeypatch, capsys):
    args = dataflow_args(tmp_path, "http://localhost:9")
    code, _, err = klio_main(monkeypatch, capsys, "job", "run", "--job", "toy-count", "--batch", "--update", *args)
    assert (code, err.strip()) == (1, "klio: error: --update needs a streaming job (Dataflow updates "
                                      "streaming jobs only)")
    code, _, err = klio_main(monkeypatch, capsys, "job", "run", "--direct-runner", "--job", "toy-count",
                             "--streaming", "--update", *args)
    assert code == 1 and "--update replaces a job running on Dataflow" in err


def test_deploy_needs_dataflow(tmp_path, monkeypatch, capsys):
    args = ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(str(tmp_path / "root"), PROJECT)]
    code, _, err = klio_main(monkeypatch, capsys, "job", "deploy", "--job", "toy-count", *args)
    assert code == 1 and "klio job deploy runs on Dataflow" in err


def test_version_names_this_distribution_and_beam(monkeypatch, capsys):
    from importlib.metadata import version

    code, out, _ = klio_main(monkeypatch, capsys, "--version")
    assert code == 0
    assert out.strip() == f"klio: video-iab {version('video-iab')}, Apache Beam {version('apache-beam')}"
