"""klio-job.yaml: the job graph as one YAML document per job, each a Klio v2 job config.

Parsed once at the edge (CLI) into frozen dataclasses and passed down explicitly. The schema is
declared once, as pydantic models (jobgraph.schema); unknown keys are errors at every level, and
every error is one line naming the file, the job, the key path and what was expected:

    version: 2
    job_name: video-features
    pipeline_options: {project: my-proj, streaming: true, runner: DataflowRunner, ...}
    job_config:
      events:
        inputs:  [{type: pubsub, topic: ..., subscription: ...}, {type: file, location: ids.txt}]
        outputs: [{type: pubsub, topic: ...}, {type: file, location: out/events}]
      data:
        inputs:  [{type: gcs, location: gs://b/videos, file_suffix: .mp4, ping: false,
                   skip_klio_existence_check: false}]
        outputs: [{type: gcs, location: gs://b/features, file_suffix: .tfrecord, force: false}]
      allow_non_klio_messages: false
      blocking: false
      dead_letter: [{type: pubsub, topic: ...}, {type: file, location: dead-letter/video-features}]
      id_pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
      entry_point: run:run           # module:function, module resolved next to klio-job.yaml
      any_user_key: ...              # kept in JobConfig.user; typed by the entry point's SETTINGS

Extensions to Klio: several event inputs/outputs of different types may be listed; the run picks
the pubsub ones when streaming and the file/listing ones in batch. `listing` reads the IDs from
the listing of the job's data input location. Parent/child links are derived: a job's parent is
the job whose data output is its data input (or whose event output topic is its input topic).
The job's own keys are checked against the pydantic model its entry point module declares in
`SETTINGS = {job_name: Model}` (jobgraph.settings); jobs without one accept any own key.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from jobgraph import settings as job_settings
from jobgraph.ids import DEFAULT_ID_PATTERN
from jobgraph.message import KlioJob, job_identity
from jobgraph.schema import (BATCH_EVENT_TYPES, DATA_TYPES, JOB_NAME, KLIO_PIPELINE_DEFAULTS,  # noqa: F401
                             STREAMING_EVENT_TYPES, DataInputDoc, DataOutputDoc, KlioJobDoc)
from jobgraph.schema_errors import explain


class ConfigError(ValueError):
    """A klio-job.yaml problem, one line: file, key path and what was expected (`expected`,
    `got`) or what is wrong (`problem`)."""

    def __init__(self, source: str, key: str, expected: str = "", got: Any = dataclasses.MISSING,
                 *, problem: str = ""):
        got_text = "" if got is dataclasses.MISSING else f", got {got!r}"
        super().__init__(f"{source}: {key}: {problem or f'expected {expected}{got_text}'}")
        self.source, self.key = source, key


@dataclasses.dataclass(frozen=True)
class EventIO:
    """One event input or output. type: pubsub | file | listing."""

    type: str
    topic: str | None = None
    subscription: str | None = None
    location: str | None = None
    file_suffix: str = ""

    @property
    def streaming(self) -> bool:
        return self.type in STREAMING_EVENT_TYPES


@dataclasses.dataclass(frozen=True)
class DataIO:
    """One data input or output: where the job's files live, as Klio's gcs/file data config."""

    type: str
    location: str
    file_suffix: str = ""
    ping: bool = False
    force: bool = False
    skip_klio_existence_check: bool = False


@dataclasses.dataclass(frozen=True)
class JobConfig:
    job_name: str
    pipeline_options: Mapping[str, Any]
    event_inputs: tuple[EventIO, ...]
    event_outputs: tuple[EventIO, ...]
    data_input: DataIO | None
    data_output: DataIO | None
    dead_letters: tuple[EventIO, ...]
    allow_non_klio_messages: bool = False
    blocking: bool = False  # Klio: wait for a remote (Dataflow) job to finish; local runs always wait
    id_pattern: str = DEFAULT_ID_PATTERN
    entry_point: str = "run:run"
    user: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    version: int = 2
    source: str = ""
    job_dir: str = "."

    @property
    def project(self) -> str:
        return str(self.pipeline_options.get("project") or "")

    @property
    def identity(self) -> KlioJob:
        return job_identity(self.job_name, self.project)

    @property
    def streaming(self) -> bool:
        return bool(self.pipeline_options.get("streaming"))

    def _pick(self, ios: tuple[EventIO, ...], streaming: bool) -> EventIO | None:
        return next((io for io in ios if io.streaming == streaming), None)

    def event_input(self, streaming: bool | None = None) -> EventIO | None:
        return self._pick(self.event_inputs, self.streaming if streaming is None else streaming)

    def event_output(self, streaming: bool | None = None) -> EventIO | None:
        return self._pick(self.event_outputs, self.streaming if streaming is None else streaming)

    def dead_letter(self, streaming: bool | None = None) -> EventIO | None:
        return self._pick(self.dead_letters, self.streaming if streaming is None else streaming)


@dataclasses.dataclass(frozen=True)
class GraphConfig:
    """All jobs of one klio-job.yaml, in file order, with derived parent/child links."""

    jobs: tuple[JobConfig, ...]
    source: str
    parents: Mapping[str, str]  # child job_name -> parent job_name

    def job(self, name: str) -> JobConfig:
        for job in self.jobs:
            if job.job_name == name:
                return job
        raise ConfigError(self.source, "job_name", f"one of {[j.job_name for j in self.jobs]}", name)

    def parent(self, name: str) -> JobConfig | None:
        parent = self.parents.get(name)
        return self.job(parent) if parent else None

    def children(self, name: str) -> tuple[JobConfig, ...]:
        return tuple(j for j in self.jobs if self.parents.get(j.job_name) == name)

    def roots(self) -> tuple[JobConfig, ...]:
        return tuple(j for j in self.jobs if j.job_name not in self.parents)

    def topological(self) -> tuple[JobConfig, ...]:
        order: list[JobConfig] = []
        pending = list(self.roots())
        while pending:
            job = pending.pop(0)
            order.append(job)
            pending.extend(self.children(job.job_name))
        return tuple(order)


# ---------------------------------------------------------------------------------------------
# Loading


def _parse_kv(item: str, flag: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(flag, item, "KEY=VALUE")
    key, value = item.split("=", 1)
    return key.strip(), value


def _render_templates(text: str, templates: Mapping[str, str], source: str) -> str:
    """Klio's `-T key=value`: `${key}` (must be defined) and `$key` (when defined) are replaced."""
    def braced(match: re.Match) -> str:
        name = match.group(1)
        if name not in templates:
            raise ConfigError(source, f"${{{name}}}", f"a value given with -T {name}=VALUE")
        return str(templates[name])

    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}", braced, text)
    for name, value in templates.items():
        text = re.sub(r"\$" + re.escape(name) + r"(?![A-Za-z0-9_])", lambda _m, v=value: str(v), text)
    return text


def _apply_override(doc: dict, dotted: str, value: Any, source: str) -> None:
    """Set doc[a][b]... = value for `a.b...`; integer parts index lists."""
    parts = dotted.split(".")
    node: Any = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(source, ".".join(parts[: i + 1]), f"a list index < {len(node)}")
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(source, ".".join(parts[:i]), "a mapping to override into", node)
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(source, dotted, f"a list index < {len(node)}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(source, dotted, "a mapping to override into", node)


def apply_overrides(docs: list[dict], overrides: list[str], source: str) -> None:
    """`-O key=value` (value parsed as YAML). `-O job:key=value` targets one job, else all jobs."""
    for item in overrides:
        key, raw = _parse_kv(item, "-O")
        job_name = None
        if ":" in key:
            job_name, key = key.split(":", 1)
            if job_name not in [d.get("job_name") for d in docs]:
                raise ConfigError(source, f"-O {item}", "a job_name of this file before ':'", job_name)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(source, f"-O {key}", "a YAML value", raw) from exc
        for doc in docs:
            if job_name is None or doc.get("job_name") == job_name:
                _apply_override(doc, key, value, source)


def _resolve(location: str | None, job_dir: str) -> str | None:
    if location is None or "://" in location or os.path.isabs(location):
        return location
    return os.path.normpath(os.path.join(job_dir, location))


def parse_document(doc: Any, index: int, source: str) -> KlioJobDoc:
    """Validate one job document against the schema; errors name the job (or the document)."""
    name = doc.get("job_name") if isinstance(doc, dict) else None
    valid_name = isinstance(name, str) and JOB_NAME.fullmatch(name)
    prefix = f"job {name}: " if valid_name else f"document {index + 1}: "
    try:
        return KlioJobDoc.model_validate(doc)
    except ValidationError as exc:
        key, problem = explain(exc, KlioJobDoc)
        raise ConfigError(source, f"{prefix}{key or '(document)'}", problem=problem) from None


def _event_io(io, job_dir: str) -> EventIO:
    return EventIO(type=io.type, topic=io.topic, subscription=getattr(io, "subscription", None),
                   location=_resolve(io.location, job_dir), file_suffix=io.file_suffix)


def _data_io(ios: list, job_dir: str) -> DataIO | None:
    if not ios:
        return None
    io = ios[0]
    return DataIO(type=io.type, location=_resolve(io.location, job_dir), file_suffix=io.file_suffix,
                  ping=io.ping if isinstance(io, DataInputDoc) else False,
                  force=io.force if isinstance(io, DataOutputDoc) else False,
                  skip_klio_existence_check=io.skip_klio_existence_check)


def _job_config(doc: KlioJobDoc, source: str, job_dir: str) -> JobConfig:
    jc = doc.job_config
    return JobConfig(
        job_name=doc.job_name, version=doc.version, pipeline_options=doc.pipeline_options.model_dump(),
        event_inputs=tuple(_event_io(io, job_dir) for io in jc.events.inputs),
        event_outputs=tuple(_event_io(io, job_dir) for io in jc.events.outputs),
        dead_letters=tuple(_event_io(io, job_dir) for io in jc.dead_letter),
        data_input=_data_io(jc.data.inputs, job_dir), data_output=_data_io(jc.data.outputs, job_dir),
        allow_non_klio_messages=jc.allow_non_klio_messages, blocking=jc.blocking,
        id_pattern=jc.id_pattern, entry_point=jc.entry_point, user=dict(jc.model_extra or {}),
        source=source, job_dir=job_dir)


def _derive_parents(jobs: tuple[JobConfig, ...], source: str) -> dict[str, str]:
    parents: dict[str, str] = {}
    for child in jobs:
        found = set()
        for parent in jobs:
            if parent is child:
                continue
            if (child.data_input and parent.data_output
                    and (child.data_input.location, child.data_input.file_suffix)
                    == (parent.data_output.location, parent.data_output.file_suffix)):
                found.add(parent.job_name)
            in_topic = next((io.topic for io in child.event_inputs if io.type == "pubsub"), None)
            out_topic = next((io.topic for io in parent.event_outputs if io.type == "pubsub"), None)
            if in_topic and in_topic == out_topic:
                found.add(parent.job_name)
        if len(found) > 1:
            raise ConfigError(source, f"job {child.job_name}", "at most one parent job", sorted(found))
        if found:
            parents[child.job_name] = found.pop()
    for name in parents:  # cycles would make bottom-up triggering loop forever
        seen, node = {name}, parents[name]
        while node:
            if node in seen:
                raise ConfigError(source, f"job {name}", "an acyclic graph of jobs", sorted(seen))
            seen.add(node)
            node = parents.get(node)
    return parents


def read_documents(path: str, overrides: list[str] | tuple[str, ...] = (),
                   templates: list[str] | tuple[str, ...] = ()) -> tuple[str, list[dict]]:
    """(absolute path, job documents) of a klio-job.yaml, templated and overridden."""
    source = os.path.abspath(path)
    try:
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(source, "(file)", "a readable klio-job.yaml", str(exc)) from exc
    text = _render_templates(text, dict(_parse_kv(t, "-T") for t in templates), source)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(source, "(yaml)", "valid YAML", str(exc).replace("\n", " ")) from exc
    if not docs:
        raise ConfigError(source, "(file)", "at least one job document")
    if not all(isinstance(d, dict) for d in docs):
        raise ConfigError(source, "(document)", "each YAML document to be a mapping")
    apply_overrides(docs, list(overrides), source)
    return source, docs


def load_graph(path: str, overrides: list[str] | tuple[str, ...] = (),
               templates: list[str] | tuple[str, ...] = (), *, settings: bool = True) -> GraphConfig:
    """Read, template, override and validate a klio-job.yaml (one document per job).
    settings: also check each job's own keys against its entry point's SETTINGS."""
    source, docs = read_documents(path, overrides, templates)
    job_dir = os.path.dirname(source)
    jobs = tuple(_job_config(parse_document(doc, i, source), source, job_dir) for i, doc in enumerate(docs))
    names = [j.job_name for j in jobs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(source, "job_name", "unique job names", duplicate)
    graph = GraphConfig(jobs=jobs, source=source, parents=_derive_parents(jobs, source))
    if settings:
        for job in jobs:
            check_settings(job)
    return graph


# ---------------------------------------------------------------------------------------------
# The job's own keys (jobgraph.settings): typed by the model its entry point module declares


def settings_model(job: JobConfig) -> type[BaseModel] | None:
    """The pydantic model the job's entry point declares for its own keys, or None."""
    try:
        return job_settings.declared_model(job.entry_point, job.job_dir, job.job_name)
    except TypeError as exc:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.entry_point", problem=str(exc)) from None


def _settings_error(job: JobConfig, problem: tuple[str, str]) -> ConfigError:
    key, message = problem
    return ConfigError(job.source, f"job {job.job_name}: job_config{'.' + key if key else ''}", problem=message)


def validate_settings(job: JobConfig, model: type[BaseModel]) -> BaseModel:
    """The job's own keys (JobConfig.user) as `model`; a ConfigError naming the key otherwise."""
    value, problem = job_settings.validate(job.user, model)
    if problem is not None:
        raise _settings_error(job, problem)
    return value


def check_settings(job: JobConfig) -> BaseModel | None:
    """Check the job's own keys: against its declared model, else for misspelt Klio keys.
    Imports the job's entry point module (as building its pipeline would)."""
    model = settings_model(job)
    if model is not None:
        return validate_settings(job, model)
    problem = job_settings.klio_typo(job.user)
    if problem is not None:
        raise _settings_error(job, problem)
    return None
