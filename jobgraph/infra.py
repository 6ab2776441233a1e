"""Infrastructure checks made before a run starts, so that an unreachable service or missing
credentials fail the command within seconds, with one line naming the cause and the fix, instead
of dead-lettering every element as if the data were bad.

Failure classes (README, Guarantees): data problems are dead letters and the run succeeds;
infrastructure problems raise `InfrastructureError` here (exit 1).
"""
from __future__ import annotations

import os
from typing import Iterable

from jobgraph.config import JobConfig

# Each remote call of a check gets this long; no retries (a check is a yes/no question).
CHECK_TIMEOUT_S = 8.0


class InfrastructureError(RuntimeError):
    """A service or credential the run needs is not there; the message says how to fix it."""


def _pubsub_fix() -> str:
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if host:
        return (f"PUBSUB_EMULATOR_HOST={host}: is the emulator running there? Start it, or unset "
                "PUBSUB_EMULATOR_HOST to use Google Cloud Pub/Sub")
    return ("check the network and credentials, or set PUBSUB_EMULATOR_HOST for the emulator "
            "(gcloud auth application-default login for Google Cloud)")


def no_credentials(service: str, emulator_variable: str) -> InfrastructureError:
    return InfrastructureError(
        f"no credentials for {service}: set {emulator_variable} for the emulator or run "
        "gcloud auth application-default login")


def require_credentials(service: str, emulator_variable: str) -> None:
    """Application default credentials must exist unless the service's emulator is configured."""
    if os.environ.get(emulator_variable):
        return
    import google.auth
    from google.auth import exceptions as auth_exceptions

    try:
        google.auth.default()
    except auth_exceptions.DefaultCredentialsError as exc:
        raise no_credentials(service, emulator_variable) from exc


def pubsub_error(exc: BaseException, what: str) -> InfrastructureError:
    """One line for a failed Pub/Sub call on `what` (a topic or subscription)."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exceptions

    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return no_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
    if isinstance(exc, (gexc.PermissionDenied, gexc.Unauthenticated)):
        return InfrastructureError(f"Pub/Sub refused access to {what}: {exc.message}")
    return InfrastructureError(f"Pub/Sub unreachable ({type(exc).__name__} on {what}): {_pubsub_fix()}")


def check_pubsub(topics: Iterable[str], subscriptions: Iterable[tuple[str, str]],
                 create_missing: bool) -> None:
    """Every topic and (subscription, topic) must exist; missing ones are created when
    `create_missing`, else named with the command that creates them."""
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1

    require_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    try:
        for topic in topics:
            try:
                publisher.get_topic(request={"topic": topic}, timeout=CHECK_TIMEOUT_S, retry=None)
            except gexc.NotFound:
                if not create_missing:
                    raise InfrastructureError(f"topic {topic} does not exist: run `klio job verify "
                                              "--create-resources` or pass --create-resources") from None
                try:
                    publisher.create_topic(request={"name": topic}, timeout=CHECK_TIMEOUT_S, retry=None)
                except gexc.AlreadyExists:  # created meanwhile by another job of the graph
                    pass
        for subscription, topic in subscriptions:
            try:
                subscriber.get_subscription(request={"subscription": subscription},
                                            timeout=CHECK_TIMEOUT_S, retry=None)
            except gexc.NotFound:
                if not create_missing or not topic:
                    raise InfrastructureError(f"subscription {subscription} does not exist: run "
                                              "`klio job verify --create-resources` or pass "
                                              "--create-resources") from None
                create_subscription(subscriber, subscription, topic)
    except InfrastructureError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the service is reported as one line
        raise pubsub_error(exc, "the job's topics") from exc
    finally:
        subscriber.close()


def create_subscription(subscriber, subscription: str, topic: str) -> None:
    from google.api_core import exceptions as gexc

    try:
        subscriber.create_subscription(
            request={"name": subscription, "topic": topic, "ack_deadline_seconds": 60},
            timeout=CHECK_TIMEOUT_S, retry=None)
    except gexc.AlreadyExists:  # created meanwhile by another job of the graph
        pass


def check_buckets(buckets: Iterable[str], project: str) -> None:
    """Every gs:// bucket must be reachable and exist."""
    buckets = sorted(set(buckets))
    if not buckets:
        return
    require_credentials("Cloud Storage", "STORAGE_EMULATOR_HOST")
    from google.cloud import storage

    client = storage.Client(project=project or None)
    for name in buckets:
        try:
            found = client.bucket(name).exists(timeout=CHECK_TIMEOUT_S, retry=None)
        except Exception as exc:  # noqa: BLE001
            where = os.environ.get("STORAGE_EMULATOR_HOST")
            hint = (f"STORAGE_EMULATOR_HOST={where}: is the emulator running there?" if where
                    else "check the network and credentials")
            raise InfrastructureError(f"Cloud Storage unreachable ({type(exc).__name__} on "
                                      f"gs://{name}): {hint}") from exc
        if not found:
            raise InfrastructureError(f"bucket gs://{name} does not exist: create it or run "
                                      "`klio job verify --create-resources`")


def job_buckets(job: JobConfig) -> set[str]:
    """Buckets of every gs:// location the job reads or writes."""
    locations = [io.location for io in (*job.event_inputs, *job.event_outputs, *job.dead_letters)]
    locations += [data.location for data in (job.data_input, job.data_output) if data is not None]
    return {loc[5:].split("/", 1)[0] for loc in locations if loc and loc.startswith("gs://")}


def job_pubsub(job: JobConfig, streaming: bool) -> tuple[set[str], set[tuple[str, str]]]:
    """(topics, (subscription, topic) pairs) a streaming job reads and writes."""
    topics: set[str] = set()
    subscriptions: set[tuple[str, str]] = set()
    if not streaming:
        return topics, subscriptions
    for io in (*job.event_inputs, *job.event_outputs, *job.dead_letters):
        if io.type != "pubsub":
            continue
        if io.topic:
            topics.add(io.topic)
        if io.subscription:
            subscriptions.add((io.subscription, io.topic or ""))
    return topics, subscriptions


def preflight(jobs: Iterable[JobConfig], streaming: bool, create_missing: bool = False) -> None:
    """Check what the jobs need before anything runs; raise InfrastructureError on the first
    missing piece."""
    jobs = list(jobs)
    buckets: set[str] = set()
    topics: set[str] = set()
    subscriptions: set[tuple[str, str]] = set()
    for job in jobs:
        buckets |= job_buckets(job)
        job_topics, job_subscriptions = job_pubsub(job, streaming)
        topics |= job_topics
        subscriptions |= job_subscriptions
    check_buckets(buckets, jobs[0].project if jobs else "")
    if topics or subscriptions:
        check_pubsub(sorted(topics), sorted(subscriptions), create_missing)
