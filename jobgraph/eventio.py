"""Event inputs and outputs, dead-letter sinks: Pub/Sub when streaming, files in batch."""
from __future__ import annotations

import datetime
import os
import threading

import apache_beam as beam
from apache_beam.io import fileio

from jobgraph.config import ConfigError, JobConfig
from jobgraph.deadletter import DeadLetter
from jobgraph.progress import ShowProgress
from jobgraph.receipts import RECEIPTS, element_key
from jobgraph.storage import id_from_path, owner_tag
from jobgraph.steps import IdsToMessages, ParseMessages, counter


def _serialize(msg) -> bytes:
    return msg.SerializeToString()


def _element_text(msg) -> str:
    return msg.data.element.decode("utf-8", "replace")


class _Count(beam.DoFn):
    def __init__(self, job_name: str, name: str):
        self.job_name, self.name = job_name, name

    def process(self, x):
        counter(self.job_name, self.name).inc()
        yield x


def read_streaming_events(p, job: JobConfig, track_receipts: bool = False):
    """Pub/Sub subscription (or topic) -> (messages, dead letters).

    track_receipts: read PubsubMessages (with their IDs) so that the local runner acknowledges
    each one only when its results are published (jobgraph.receipts)."""
    io = job.event_input(streaming=True)
    if io is None:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.events.inputs",
                          "a pubsub input to run streaming")
    label = f"[{job.job_name}] Read Event Input"
    source = {"subscription": io.subscription} if io.subscription else {"topic": io.topic}
    raw = p | label >> beam.io.ReadFromPubSub(**source, with_attributes=track_receipts)
    parsed = raw | f"[{job.job_name}] Parse KlioMessage" >> beam.ParDo(ParseMessages(job)).with_outputs(
        "dead_letter", main="messages")
    return parsed.messages, parsed.dead_letter


def read_batch_events(p, job: JobConfig, ids: list[str] | None = None, ids_file: str | None = None):
    """IDs (given, from a file, or the listing of the data input) -> (messages, dead letters)."""
    label = f"[{job.job_name}] Read Event Input"
    if ids is not None:
        lines = p | label >> beam.Create(list(ids))
    elif ids_file is not None:  # bytes: a line that is not UTF-8 is one dead letter
        lines = p | label >> beam.io.ReadFromText(ids_file, coder=beam.coders.BytesCoder())
    else:
        io = job.event_input(streaming=False)
        if io is None:
            raise ConfigError(job.source, f"job {job.job_name}: job_config.events.inputs",
                              "a file or listing input, or IDs / --batch-input on the command line")
        if io.type == "file":
            lines = p | label >> beam.io.ReadFromText(io.location, coder=beam.coders.BytesCoder())
        else:  # listing: IDs are the names of the objects in a data location
            location = io.location or (job.data_input.location if job.data_input else None)
            suffix = io.file_suffix or (job.data_input.file_suffix if job.data_input and not io.location else "")
            if not location:
                raise ConfigError(job.source, f"job {job.job_name}: job_config.events.inputs",
                                  "a location for the listing input (or a data input)")
            lines = (p | label >> fileio.MatchFiles(f"{location.rstrip('/')}/*{suffix}")
                     | f"[{job.job_name}] IDs from listing" >> beam.Map(
                         lambda meta, s=suffix: id_from_path(meta.path, s)))
    # Break fusion: a file or listing is read in few bundles; redistributing the IDs lets every
    # worker take a share of the (expensive) per-video work.
    spread = lines | f"[{job.job_name}] Spread IDs" >> beam.Reshuffle()
    parsed = spread | f"[{job.job_name}] IDs to KlioMessage" >> beam.ParDo(IdsToMessages(job)).with_outputs(
        "dead_letter", main="messages")
    return parsed.messages, parsed.dead_letter


_PUBLISHER = None
_PUBLISHER_LOCK = threading.Lock()


def _shared_publisher():
    """One Pub/Sub publisher per process: the local runner builds a fresh copy of a DoFn for
    every bundle, and a client per bundle would leak its channel and threads."""
    global _PUBLISHER
    with _PUBLISHER_LOCK:
        if _PUBLISHER is None:
            from google.cloud import pubsub_v1

            _PUBLISHER = pubsub_v1.PublisherClient()
        return _PUBLISHER


class PublishThenAcknowledge(beam.DoFn):
    """Local streaming sink: publish (bytes, element key) pairs to a topic; once the server has
    confirmed a bundle's messages, acknowledge the input messages they end (jobgraph.receipts).
    A publish that fails raises: the job stops and its unacknowledged inputs come back."""

    def __init__(self, topic: str, job_name: str):
        self.topic, self.job_name = topic, job_name
        self._sent: list = []

    def start_bundle(self):
        self._sent = []

    def process(self, element: tuple[bytes, str]):
        data, key = element
        self._sent.append((_shared_publisher().publish(self.topic, data), key))

    def finish_bundle(self):
        for future, key in self._sent:
            future.result(timeout=120)
            RECEIPTS.done(self.job_name, key)
        self._sent = []


def publish(pcoll, topic: str, job_name: str, label: str, to_bytes, key, track_receipts: bool) -> None:
    """Publish each element as `to_bytes(element)`; with `track_receipts` (local streaming), the
    input message ending in it (`key(element)`) is acknowledged once the publish is confirmed."""
    if track_receipts:
        (pcoll | f"{label} Serialize" >> beam.Map(lambda x: (to_bytes(x), key(x)))
         | f"{label} Publish" >> beam.ParDo(PublishThenAcknowledge(topic, job_name)))
    else:
        (pcoll | f"{label} Serialize" >> beam.Map(to_bytes).with_output_types(bytes)
         | f"{label} Publish" >> beam.io.WriteToPubSub(topic))


class _AcknowledgeEnded(beam.DoFn):
    """Local streaming without an event output: a message ends when the job has processed it."""

    def __init__(self, job_name: str):
        self.job_name = job_name

    def process(self, msg):
        RECEIPTS.done(self.job_name, _message_key(msg))


def _message_key(msg) -> str:
    return element_key(msg.data.element)


def _letter_key(letter: DeadLetter) -> str:
    return element_key(letter.element)


def write_events(messages, job: JobConfig, streaming: bool, run_id: str,
                 track_receipts: bool = False) -> None:
    """Event output: serialized messages to Pub/Sub, or one element per line to text files
    `{location}/{run_id}-*.txt` (one set per run: a later run never overwrites them)."""
    io = job.event_output(streaming)
    name = job.job_name
    counted = messages | f"[{name}] Count Output" >> beam.ParDo(_Count(name, "kmsg-output"))
    if not streaming:
        counted = counted | f"[{name}] Progress" >> beam.ParDo(ShowProgress(name))
    if io is None:
        if streaming and track_receipts:
            counted | f"[{name}] Acknowledge" >> beam.ParDo(_AcknowledgeEnded(name))
        return
    if streaming:
        publish(counted, io.topic, name, f"[{name}] Event Output", _serialize, _message_key,
                track_receipts)
    else:
        (counted | f"[{name}] Output Elements" >> beam.Map(_element_text)
         | f"[{name}] Write Event Output" >> beam.io.WriteToText(
             f"{io.location.rstrip('/')}/{run_id}", file_name_suffix=".txt"))


def publish_to_topic(messages, topic: str, label: str, job_name: str = "",
                     track_receipts: bool = False) -> None:
    publish(messages, topic, job_name, label, _serialize, _message_key, track_receipts)


def default_dead_letter_location(job: JobConfig) -> str:
    return os.path.join(job.job_dir, "dead-letter", job.job_name)


def write_dead_letters(letters, job: JobConfig, streaming: bool, run_id: str,
                       track_receipts: bool = False) -> None:
    """Dead letters as JSON: a Pub/Sub topic when streaming; files `{location}/{run_id}-*.jsonl`
    in batch (one set per run, so a rerun never overwrites earlier records)."""
    io = job.dead_letter(streaming)
    name = job.job_name
    if streaming:
        if io is None:
            raise ConfigError(job.source, f"job {name}: job_config.dead_letter",
                              "a pubsub dead-letter topic to run streaming")
        publish(letters, io.topic, name, f"[{name}] Dead Letters",
                lambda letter: letter.to_json().encode("utf-8"), _letter_key, track_receipts)
    else:
        as_json = letters | f"[{name}] Dead Letters to JSON" >> beam.Map(DeadLetter.to_json)
        location = io.location if io is not None else default_dead_letter_location(job)
        as_json | f"[{name}] Write Dead Letters" >> beam.io.WriteToText(
            f"{location.rstrip('/')}/{run_id}", file_name_suffix=".jsonl", skip_if_empty=True)


def new_run_id() -> str:
    """`{UTC time}-{pid}@{host}`: names a batch run's event and dead-letter files, and so the
    `beam-temp-*` folders Beam stages them in, which tells a later run whether they are a dead
    run's leftovers (storage.sweep_dead_writers)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{owner_tag()}"


def local_output_folders(job: JobConfig) -> list[str]:
    """The folders a batch run of `job` writes files into (data, events, dead letters)."""
    folders = [job.data_output.location] if job.data_output is not None else []
    events = job.event_output(streaming=False)
    if events is not None and events.location:
        folders.append(events.location)
    dead = job.dead_letter(streaming=False)
    folders.append(dead.location if dead is not None and dead.location else default_dead_letter_location(job))
    return folders
