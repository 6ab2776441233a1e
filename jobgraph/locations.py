"""Where a run reads and writes, and the check that a remote runner's workers can reach it.

Dataflow's workers see neither this machine's files nor paths relative to klio-job.yaml, so
with a remote runner every location a run uses must be on gs://; a local one is a config
error before anything is submitted (dry runs included: they check a deployment):

    klio-job.yaml: job video-iab: job_config.model_dir: a gs:// location is needed with
    DataflowRunner, got 'demo/model'

The runtime knows its own locations (data input and output, the file event input and output
and file dead letters of the mode that runs, the default dead-letter folder, --batch-input).
A job's own settings declare theirs in the settings model its entry point exposes
(jobgraph.settings) by typing a field `Location` (or `location("imagenet")` where a keyword
may stand instead of a location); this module finds those fields in the model, nested
sections included, so the runtime checks them without knowing the job's code:

    class MySettings(Section):
        model_dir: Location
        sidecars: Location | None = None
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Iterator

from pydantic import BaseModel

from jobgraph.config import ConfigError, GraphConfig, JobConfig, settings_model, validate_settings

REMOTE_PREFIX = "gs://"


@dataclasses.dataclass(frozen=True)
class LocationMarker:
    """Field metadata: the value is a file or folder location that workers read or write.
    `keywords`: values that are not locations (e.g. `imagenet` for a weights setting)."""

    keywords: tuple[str, ...] = ()


Location = Annotated[str, LocationMarker()]


def location(*keywords: str) -> Any:
    """A `Location` type whose value may also be one of `keywords` (then it is no location)."""
    return Annotated[str, LocationMarker(tuple(keywords))]


def is_remote(value: str) -> bool:
    return value.startswith(REMOTE_PREFIX)


def _marker(annotation: Any, metadata: list) -> LocationMarker | None:
    """The LocationMarker in a field's metadata or anywhere in its type (Optional, lists)."""
    for item in metadata:
        if isinstance(item, LocationMarker):
            return item
    for arg in typing.get_args(annotation):
        found = arg if isinstance(arg, LocationMarker) else _marker(arg, [])
        if found is not None:
            return found
    return None


def _sections(annotation: Any) -> list[type[BaseModel]]:
    """The settings sections (pydantic models) a field's type holds, e.g. `Decode | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _sections(arg)]


def marked_fields(model: type[BaseModel],
                  prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], LocationMarker]]:
    """(key path, marker) of every `Location` field of `model` and of its nested sections."""
    for name, field in model.model_fields.items():
        marker = _marker(field.annotation, field.metadata)
        if marker is not None:
            yield prefix + (name,), marker
            continue
        for section in _sections(field.annotation):
            yield from marked_fields(section, prefix + (name,))


def _values(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """(key, value) of a setting's value; a list of locations gives one pair per item."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield f"{key}.{i}", item
    elif value is not None:
        yield key, value


def setting_locations(job: JobConfig) -> list[tuple[str, str]]:
    """(key under job_config, location) of the job's own settings typed `Location`; values as
    written (relative ones before their resolution next to klio-job.yaml)."""
    model = settings_model(job)
    if model is None:
        return []
    settings = validate_settings(job, model)
    found = []
    for path, marker in marked_fields(model):
        value: Any = settings
        for part in path:
            value = getattr(value, part, None)
        found += [(key, str(v)) for key, v in _values(value, "job_config." + ".".join(path))
                  if str(v) not in marker.keywords]
    return found


def runtime_locations(job: JobConfig, streaming: bool) -> list[tuple[str, str]]:
    """(key, location) of what the runtime itself reads and writes for `job` in this mode."""
    from jobgraph.eventio import default_dead_letter_location  # Beam: only when a run is built

    found = []
    for kind, ios in (("events.inputs", job.event_inputs), ("events.outputs", job.event_outputs),
                      ("dead_letter", job.dead_letters)):
        for i, io in enumerate(ios):
            if io.streaming == streaming and io.location:
                found.append((f"job_config.{kind}.{i}.location", io.location))
    for kind, io in (("data.inputs", job.data_input), ("data.outputs", job.data_output)):
        if io is not None:
            found.append((f"job_config.{kind}.0.location", io.location))
    if not streaming and job.dead_letter(streaming=False) is None:
        found.append(("job_config.dead_letter (default file location)", default_dead_letter_location(job)))
    return found


def require_remote(graph: GraphConfig, jobs: list[JobConfig], streaming: bool, runner: str,
                   ids_file: str | None = None) -> None:
    """Raise ConfigError naming the file, the job and the key of the first location of the run
    that is not gs://; `jobs` are those the run builds."""
    def problem(value: str) -> str:
        return f"a {REMOTE_PREFIX} location is needed with {runner}, got {value!r}"

    if ids_file is not None and not is_remote(ids_file):
        raise ConfigError(graph.source, "--batch-input", problem=problem(ids_file))
    for job in jobs:
        for key, value in runtime_locations(job, streaming) + setting_locations(job):
            if not is_remote(value):
                raise ConfigError(job.source, f"job {job.job_name}: {key}", problem=problem(value))
