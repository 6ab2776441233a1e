"""The cloud and local resources a job graph needs: check them, create them, publish to them.

Official clients only (google-cloud-pubsub, google-cloud-storage); both honour the emulators'
PUBSUB_EMULATOR_HOST / STORAGE_EMULATOR_HOST.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable

from jobgraph import infra
from jobgraph.config import GraphConfig, JobConfig
from jobgraph.eventio import default_dead_letter_location


@dataclasses.dataclass(frozen=True)
class Resource:
    kind: str        # topic | subscription | bucket | directory
    name: str
    topic: str = ""  # for subscriptions


def _dirname(location: str, is_prefix: bool) -> str:
    return location.rsplit("/", 1)[0] if is_prefix and "/" in location else location


def _location_resource(location: str, is_prefix: bool = False) -> Resource:
    if location.startswith("gs://"):
        return Resource("bucket", location[5:].split("/", 1)[0])
    return Resource("directory", _dirname(location, is_prefix))


def job_resources(job: JobConfig) -> list[Resource]:
    """Everything `job` reads or writes, in a stable order, without duplicates."""
    found: list[Resource] = []
    for io in job.event_inputs:
        if io.type == "pubsub":
            if io.topic:
                found.append(Resource("topic", io.topic))
            if io.subscription:
                if not io.topic:
                    found.append(Resource("subscription", io.subscription))
                else:
                    found.append(Resource("subscription", io.subscription, io.topic))
    for io in job.event_outputs + job.dead_letters:
        if io.type == "pubsub":
            found.append(Resource("topic", io.topic))
        elif io.location:
            found.append(_location_resource(io.location, is_prefix=io in job.event_outputs))
    if not any(io.type != "pubsub" for io in job.dead_letters):
        found.append(_location_resource(default_dead_letter_location(job)))
    for data in (job.data_input, job.data_output):
        if data is not None:
            found.append(_location_resource(data.location))
    unique: list[Resource] = []
    for res in found:
        if res not in unique:
            unique.append(res)
    return unique


def graph_resources(graph: GraphConfig, job_name: str | None = None) -> list[Resource]:
    jobs = [graph.job(job_name)] if job_name else list(graph.jobs)
    unique: list[Resource] = []
    for job in jobs:
        for res in job_resources(job):
            if res not in unique:
                unique.append(res)
    return unique


def verify(resources: Iterable[Resource], create: bool, project: str) -> list[tuple[Resource, str]]:
    """Return (resource, state) with state "ok", "created" or "missing".

    Raises infra.InfrastructureError (one line naming the cause and the fix) when a service is
    unreachable or there are no credentials; each remote call is bounded by CHECK_TIMEOUT_S.
    """
    resources = list(resources)
    results = []
    clients: dict[str, object] = {}
    for res in resources:
        try:
            state = _verify_one(res, create, project, clients)
        except infra.InfrastructureError:
            raise
        except Exception as exc:  # noqa: BLE001 - a service failure is one line, not a trace
            if res.kind == "bucket":
                raise infra.InfrastructureError(
                    f"Cloud Storage unreachable ({type(exc).__name__} on gs://{res.name})") from exc
            raise infra.pubsub_error(exc, res.name) from exc
        results.append((res, state))
    return results


def _client(clients: dict, kind: str, project: str):
    if kind not in clients:
        if kind == "bucket":
            infra.require_credentials("Cloud Storage", "STORAGE_EMULATOR_HOST")
            from google.cloud import storage
            clients[kind] = storage.Client(project=project)
        else:
            infra.require_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
            from google.cloud import pubsub_v1
            clients[kind] = (pubsub_v1.PublisherClient() if kind == "topic"
                             else pubsub_v1.SubscriberClient())
    return clients[kind]


def _exists_or_create(get: Callable[[], object], create: Callable[[], object] | None) -> str:
    """"ok" when `get` finds the resource, else "created" by `create`, or "missing" without it."""
    from google.api_core import exceptions as gexc

    try:
        get()
        return "ok"
    except gexc.NotFound:
        if create is None:
            return "missing"
    try:
        create()
    except gexc.AlreadyExists:  # created meanwhile by another job of the graph
        pass
    return "created"


def _verify_one(res: Resource, create: bool, project: str, clients: dict) -> str:
    bounded = {"timeout": infra.CHECK_TIMEOUT_S, "retry": None}
    if res.kind == "topic":
        publisher = _client(clients, "topic", project)
        return _exists_or_create(
            lambda: publisher.get_topic(request={"topic": res.name}, **bounded),
            (lambda: publisher.create_topic(request={"name": res.name}, **bounded)) if create else None)
    if res.kind == "subscription":
        subscriber = _client(clients, "subscription", project)
        return _exists_or_create(
            lambda: subscriber.get_subscription(request={"subscription": res.name}, **bounded),
            (lambda: subscriber.create_subscription(
                request={"name": res.name, "topic": res.topic, "ack_deadline_seconds": 60}, **bounded))
            if create and res.topic else None)
    if res.kind == "bucket":
        client = _client(clients, "bucket", project)
        if client.bucket(res.name).exists(**bounded):
            return "ok"
        if not create:
            return "missing"
        client.create_bucket(res.name, **bounded)
        return "created"
    if os.path.isdir(res.name):
        return "ok"
    if not create:
        return "missing"
    os.makedirs(res.name, exist_ok=True)
    return "created"


def publish(topic: str, payloads: Iterable[bytes], timeout: float = 15.0) -> list[str]:
    """Publish each payload to `topic`; returns the message IDs once all are acknowledged.

    Fails within about `timeout` seconds with infra.InfrastructureError when Pub/Sub is
    unreachable, the topic is missing or there are no credentials.
    """
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1

    infra.require_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
    publisher = pubsub_v1.PublisherClient()
    try:
        publisher.get_topic(request={"topic": topic}, timeout=infra.CHECK_TIMEOUT_S, retry=None)
        futures = [publisher.publish(topic, data, timeout=timeout) for data in payloads]
        return [f.result(timeout=timeout) for f in futures]
    except gexc.NotFound:
        raise infra.InfrastructureError(f"topic {topic} does not exist: run `klio job verify "
                                        "--create-resources`") from None
    except Exception as exc:  # noqa: BLE001
        raise infra.pubsub_error(exc, topic) from exc


def preflight(jobs: Iterable[JobConfig], streaming: bool, create_missing: bool = False) -> None:
    """Before a run: every bucket the jobs use, and when streaming every topic and subscription,
    must exist (or is created with `create_missing`). Raises infra.InfrastructureError with one
    line naming the first missing resource and the command that creates it."""
    jobs = list(jobs)
    needed = ("bucket", "topic", "subscription") if streaming else ("bucket",)
    wanted: list[Resource] = []
    for job in jobs:
        wanted += [res for res in job_resources(job) if res.kind in needed and res not in wanted]
    if not wanted:
        return
    for res, state in verify(wanted, create_missing, jobs[0].project):
        if state == "missing":
            name = f"gs://{res.name}" if res.kind == "bucket" else res.name
            raise infra.InfrastructureError(
                f"{res.kind} {name} does not exist: run `klio job verify --create-resources` "
                "or pass --create-resources")
