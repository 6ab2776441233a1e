"""Infrastructure problems fail fast: one line naming the cause and the fix, a non-zero exit,
within 15 s, before any element is touched (the `klio` CLI as a user runs it, on the toy graph)."""
from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid

import pytest

from tests.jobgraph import toygraph

LIMIT_S = 15.0


@contextlib.contextmanager
def refusing_port():
    """A loopback port that is bound but never listens: connections are refused, and no other
    process can take the port while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _no_credentials_env(tmp_path) -> dict:
    """No emulator, no application default credentials, no metadata server probe."""
    # empty, not absent: the klio helper merges these into the test process's environment,
    # where the emulator fixtures may have set them; the clients treat "" as unset
    return {"STORAGE_EMULATOR_HOST": "", "PUBSUB_EMULATOR_HOST": "", "GOOGLE_APPLICATION_CREDENTIALS": "",
            "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "NO_GCE_CHECK": "true"}


def _klio_fails_fast(*args: str, env: dict) -> str:
    """Run `klio ARGS`; assert exit 1 within LIMIT_S with exactly one line on stderr; return it."""
    start = time.monotonic()
    proc = toygraph.klio(*args, env=env, check=False, timeout=120)
    elapsed = time.monotonic() - start
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert elapsed < LIMIT_S, f"took {elapsed:.1f} s"
    assert len(lines) == 1 and lines[0].startswith("klio: error: "), proc.stderr[-2000:]
    return lines[0]


def _toy_args(tmp_path, root: str, project: str = toygraph.PROJECT) -> list[str]:
    return ["-c", toygraph.config_copy(tmp_path), *toygraph.template_args(root, project)]


def test_gs_run_without_credentials_fails_fast(tmp_path):
    line = _klio_fails_fast("job", "run", "--direct-runner", *_toy_args(tmp_path, "gs://no-such-bucket/toy"),
                            "a", "b", env=_no_credentials_env(tmp_path))
    assert "no credentials for Cloud Storage" in line and "STORAGE_EMULATOR_HOST" in line
    assert "gcloud auth application-default login" in line


@pytest.mark.emulator
def test_gs_run_with_missing_bucket_fails_fast(tmp_path, gcs_emulator):
    line = _klio_fails_fast("job", "run", "--direct-runner", *_toy_args(tmp_path, "gs://absent-bucket/toy"),
                            "a", env=dict(os.environ))
    assert "bucket gs://absent-bucket does not exist" in line


def test_verify_against_unreachable_pubsub_fails_fast(tmp_path):
    with refusing_port() as host:
        env = {**os.environ, "PUBSUB_EMULATOR_HOST": host}
        line = _klio_fails_fast("job", "verify", *_toy_args(tmp_path, str(tmp_path / "root")), env=env)
    assert "Pub/Sub unreachable" in line and f"PUBSUB_EMULATOR_HOST={host}" in line


def test_publish_against_unreachable_pubsub_fails_fast(tmp_path):
    with refusing_port() as host:
        env = {**os.environ, "PUBSUB_EMULATOR_HOST": host}
        line = _klio_fails_fast("message", "publish", *_toy_args(tmp_path, str(tmp_path / "root")), "a1",
                                env=env)
    assert "Pub/Sub unreachable" in line and f"PUBSUB_EMULATOR_HOST={host}" in line


def test_publish_without_credentials_fails_fast(tmp_path):
    line = _klio_fails_fast("message", "publish", *_toy_args(tmp_path, str(tmp_path / "root")), "a1",
                            env=_no_credentials_env(tmp_path))
    assert "no credentials for Pub/Sub" in line and "PUBSUB_EMULATOR_HOST" in line


def test_streaming_run_against_unreachable_pubsub_fails_fast(tmp_path):
    with refusing_port() as host:
        env = {**os.environ, "PUBSUB_EMULATOR_HOST": host}
        line = _klio_fails_fast("job", "run", "--direct-runner", "--streaming", "--job", "toy-upper",
                                *_toy_args(tmp_path, str(tmp_path / "root")), env=env)
    assert "Pub/Sub unreachable" in line


@pytest.mark.emulator
def test_streaming_run_with_missing_subscription_names_the_fix(tmp_path, pubsub_emulator):
    project = f"p{uuid.uuid4().hex[:10]}"
    args = _toy_args(tmp_path, str(tmp_path / "root"), project)
    line = _klio_fails_fast("job", "run", "--direct-runner", "--streaming", "--job", "toy-upper", *args,
                            env=dict(os.environ))
    assert "does not exist" in line and "--create-resources" in line


@pytest.mark.emulator
def test_preflight_creates_missing_topics_and_subscriptions_when_asked(tmp_path, pubsub_emulator):
    from google.cloud import pubsub_v1

    from jobgraph.config import load_graph
    from jobgraph.resources import preflight

    project = f"p{uuid.uuid4().hex[:10]}"
    graph = load_graph(toygraph.config_copy(tmp_path),
                       templates=[f"root={tmp_path / 'root'}", f"project={project}"])
    job = graph.job("toy-upper")
    preflight([job], streaming=True, create_missing=True)
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/toy-upper-in"})
    assert subscription.topic == f"projects/{project}/topics/toy-upper-in"
    preflight([job], streaming=True)  # now everything exists: no error
