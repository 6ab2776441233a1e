"""The cloud and local resources a job graph needs: check them, create them, publish to them.

Official clients only (google-cloud-pubsub, google-cloud-storage); both honour the emulators'
PUBSUB_EMULATOR_HOST / STORAGE_EMULATOR_HOST.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterable

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
    """Return (resource, state) with state "ok", "created" or "missing"."""
    from google.api_core import exceptions as gexc

    results = []
    publisher = subscriber = storage_client = None
    for res in resources:
        if res.kind == "topic":
            from google.cloud import pubsub_v1
            publisher = publisher or pubsub_v1.PublisherClient()
            try:
                publisher.get_topic(request={"topic": res.name})
                state = "ok"
            except gexc.NotFound:
                state = "missing"
                if create:
                    publisher.create_topic(request={"name": res.name})
                    state = "created"
        elif res.kind == "subscription":
            from google.cloud import pubsub_v1
            subscriber = subscriber or pubsub_v1.SubscriberClient()
            try:
                subscriber.get_subscription(request={"subscription": res.name})
                state = "ok"
            except gexc.NotFound:
                state = "missing"
                if create and res.topic:
                    subscriber.create_subscription(
                        request={"name": res.name, "topic": res.topic, "ack_deadline_seconds": 60})
                    state = "created"
        elif res.kind == "bucket":
            from google.cloud import storage
            storage_client = storage_client or storage.Client(project=project)
            if storage_client.lookup_bucket(res.name) is not None:
                state = "ok"
            elif create:
                storage_client.create_bucket(res.name)
                state = "created"
            else:
                state = "missing"
        else:
            if os.path.isdir(res.name):
                state = "ok"
            elif create:
                os.makedirs(res.name, exist_ok=True)
                state = "created"
            else:
                state = "missing"
        results.append((res, state))
    return results


def publish(topic: str, payloads: Iterable[bytes], timeout: float = 60.0) -> list[str]:
    """Publish each payload to `topic`; returns the message IDs once all are acknowledged."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    futures = [publisher.publish(topic, data) for data in payloads]
    return [f.result(timeout=timeout) for f in futures]
