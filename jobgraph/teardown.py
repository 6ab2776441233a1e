"""`klio job delete`'s Pub/Sub part: the topics and subscriptions a graph's jobs own, deleted.

As Klio's delete: each selected job's event input subscription and its event output topic.
Left alone: input topics (a job's input topic is its parent's output topic, deleted with the
parent; the root's belongs to whoever publishes the uploads), the dead-letter topics (other
graphs may share them) and all storage (data, event and dead-letter files).
Through google-cloud-pubsub, which honours PUBSUB_EMULATOR_HOST; each call is bounded by
infra.CHECK_TIMEOUT_S.
"""
from __future__ import annotations

from jobgraph import infra
from jobgraph.config import GraphConfig
from jobgraph.resources import Resource


def owned_pubsub(graph: GraphConfig, job_name: str | None = None) -> list[Resource]:
    """The subscriptions, then the topics, that `klio job delete` removes for `job_name` (None:
    every job of the graph), in config order, without duplicates."""
    jobs = [graph.job(job_name)] if job_name else list(graph.jobs)
    subscriptions = [Resource("subscription", io.subscription, io.topic or "")
                     for job in jobs for io in job.event_inputs if io.type == "pubsub" and io.subscription]
    topics = [Resource("topic", io.topic)
              for job in jobs for io in job.event_outputs if io.type == "pubsub" and io.topic]
    unique: list[Resource] = []
    for res in subscriptions + topics:
        if res not in unique:
            unique.append(res)
    return unique


def delete(resources: list[Resource]) -> list[tuple[Resource, str]]:
    """Delete each resource; (resource, "deleted" | "absent"). Raises infra.InfrastructureError
    (one line) when Pub/Sub is unreachable, refuses, or there are no credentials."""
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1

    if not resources:
        return []
    infra.require_credentials("Pub/Sub", "PUBSUB_EMULATOR_HOST")
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    bounded = {"timeout": infra.CHECK_TIMEOUT_S, "retry": None}
    results = []
    for res in resources:
        try:
            if res.kind == "subscription":
                subscriber.delete_subscription(request={"subscription": res.name}, **bounded)
            else:
                publisher.delete_topic(request={"topic": res.name}, **bounded)
            results.append((res, "deleted"))
        except gexc.NotFound:
            results.append((res, "absent"))
        except Exception as exc:  # noqa: BLE001 - a service failure is one line, not a trace
            raise infra.pubsub_error(exc, res.name) from exc
    return results
