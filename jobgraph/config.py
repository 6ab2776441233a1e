"""klio-job.yaml: the job graph as one YAML document per job, each a Klio v2 job config.

Parsed once at the edge (CLI) into frozen dataclasses and passed down explicitly. Every error
names the file, the key and what was expected. Keys follow Klio's v2 config format:

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
      dead_letter: [{type: pubsub, topic: ...}, {type: file, location: dead-letter/video-features}]
      id_pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
      entry_point: run:run           # module:function, module resolved next to klio-job.yaml
      any_user_key: ...              # kept in JobConfig.user

Extensions to Klio: several event inputs/outputs of different types may be listed; the run picks
the pubsub ones when streaming and the file/listing ones in batch. `listing` reads the IDs from
the listing of the job's data input location. Parent/child links are derived: a job's parent is
the job whose data output is its data input (or whose event output topic is its input topic).
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Mapping

import yaml

from jobgraph.ids import DEFAULT_ID_PATTERN
from jobgraph.message import KlioJob, job_identity

STREAMING_EVENT_TYPES = ("pubsub",)
BATCH_EVENT_TYPES = ("file", "listing")
DATA_TYPES = ("gcs", "file")
KLIO_PIPELINE_DEFAULTS = {"runner": "DataflowRunner", "streaming": True}


class ConfigError(ValueError):
    """A klio-job.yaml problem: file, key and what was expected."""

    def __init__(self, source: str, key: str, expected: str, got: Any = dataclasses.MISSING):
        got_text = "" if got is dataclasses.MISSING else f", got {got!r}"
        super().__init__(f"{source}: {key}: expected {expected}{got_text}")
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


class _DocReader:
    """Typed access to one job document with errors that name file and key."""

    def __init__(self, source: str, prefix: str):
        self.source, self.prefix = source, prefix

    def error(self, key: str, expected: str, got: Any = dataclasses.MISSING) -> ConfigError:
        return ConfigError(self.source, f"{self.prefix}{key}", expected, got)

    def mapping(self, node: Any, key: str, required: bool = False) -> dict:
        if node is None and not required:
            return {}
        if not isinstance(node, dict):
            raise self.error(key, "a mapping", node)
        return node

    def string(self, node: dict, key: str, path: str, required: bool = False,
               default: str | None = None) -> str | None:
        value = node.get(key, default)
        if value is None:
            if required:
                raise self.error(f"{path}{key}", "a string (required)")
            return None
        if not isinstance(value, str) or (required and not value):
            raise self.error(f"{path}{key}", "a non-empty string", value)
        return value

    def boolean(self, node: dict, key: str, path: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            raise self.error(f"{path}{key}", "true or false", value)
        return value

    def io_list(self, node: Any, key: str) -> list[dict]:
        if node is None:
            return []
        if isinstance(node, dict):  # Klio's preprocessed form: {name: {...}}
            node = list(node.values())
        if not isinstance(node, list) or not all(isinstance(x, dict) for x in node):
            raise self.error(key, "a list of mappings", node)
        return node


_EVENT_KEYS = {"type", "topic", "subscription", "location", "file_suffix", "name",
               "skip_klio_read", "skip_klio_write"}
_DATA_KEYS = {"type", "location", "data_location", "file_suffix", "ping", "force",
              "skip_klio_existence_check", "name"}
_JOB_CONFIG_KEYS = {"events", "data", "allow_non_klio_messages", "dead_letter", "id_pattern",
                    "entry_point", "blocking", "metrics", "wait_for_pipeline_running"}


def _event_io(r: _DocReader, item: dict, path: str, job_dir: str, direction: str) -> EventIO:
    unknown = set(item) - _EVENT_KEYS
    if unknown:
        raise r.error(f"{path}{sorted(unknown)[0]}", f"one of {sorted(_EVENT_KEYS)}")
    kind = r.string(item, "type", path, required=True)
    if kind not in STREAMING_EVENT_TYPES + BATCH_EVENT_TYPES:
        raise r.error(f"{path}type", "pubsub, file or listing (bq/avro are not supported)", kind)
    io = EventIO(type=kind, topic=r.string(item, "topic", path),
                 subscription=r.string(item, "subscription", path),
                 location=_resolve(r.string(item, "location", path), job_dir),
                 file_suffix=r.string(item, "file_suffix", path, default="") or "")
    if kind == "pubsub":
        if direction == "input" and not (io.topic or io.subscription):
            raise r.error(f"{path}subscription", "a subscription or topic for a pubsub input")
        if direction != "input" and not io.topic:
            raise r.error(f"{path}topic", "a topic for a pubsub output")
        for name in ("topic", "subscription"):
            value = getattr(io, name)
            if value and not re.fullmatch(rf"projects/[^/]+/{name}s/[^/]+", value):
                raise r.error(f"{path}{name}", f"projects/PROJECT/{name}s/NAME", value)
    elif kind == "file" and not io.location:
        raise r.error(f"{path}location", "a file location")
    return io


def _data_io(r: _DocReader, items: list[dict], path: str, job_dir: str, direction: str) -> DataIO | None:
    if not items:
        return None
    if len(items) > 1:
        raise r.error(path.rstrip("."), "at most one data " + direction, len(items))
    item, path = items[0], f"{path}0."
    unknown = set(item) - _DATA_KEYS
    if unknown:
        raise r.error(f"{path}{sorted(unknown)[0]}", f"one of {sorted(_DATA_KEYS)}")
    kind = r.string(item, "type", path, required=True)
    if kind not in DATA_TYPES:
        raise r.error(f"{path}type", "gcs or file", kind)
    location = item.get("location", item.get("data_location"))
    if not isinstance(location, str) or not location:
        raise r.error(f"{path}location", "a non-empty location", location)
    if direction == "input" and "force" in item:
        raise r.error(f"{path}force", "force only on data outputs")
    if direction == "output" and "ping" in item:
        raise r.error(f"{path}ping", "ping only on data inputs")
    return DataIO(type=kind, location=_resolve(location, job_dir),
                  file_suffix=r.string(item, "file_suffix", path, default="") or "",
                  ping=r.boolean(item, "ping", path), force=r.boolean(item, "force", path),
                  skip_klio_existence_check=r.boolean(item, "skip_klio_existence_check", path))


def _job_config(doc: Any, index: int, source: str, job_dir: str) -> JobConfig:
    r = _DocReader(source, f"document {index + 1}: ")
    doc = r.mapping(doc, "(document)", required=True)
    unknown = set(doc) - {"version", "job_name", "pipeline_options", "job_config"}
    if unknown:
        raise r.error(sorted(unknown)[0], "only version, job_name, pipeline_options, job_config")
    name = r.string(doc, "job_name", "", required=True)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", name):
        raise r.error("job_name", "lower-case letters, digits and '-' (a Beam/Dataflow job name)", name)
    r.prefix = f"job {name}: "
    version = doc.get("version", 2)
    if version != 2:
        raise r.error("version", "2 (Klio v1 job configs are not supported)", version)
    options = dict(KLIO_PIPELINE_DEFAULTS)
    options.update({k: v for k, v in r.mapping(doc.get("pipeline_options"), "pipeline_options").items()
                    if v is not None})
    if not options.get("project") or not isinstance(options["project"], str):
        raise r.error("pipeline_options.project", "a GCP project name (it is the job's Klio identity)",
                      options.get("project"))
    if not isinstance(options.get("streaming"), bool):
        raise r.error("pipeline_options.streaming", "true or false", options.get("streaming"))
    jc = r.mapping(doc.get("job_config"), "job_config", required=True)
    events = r.mapping(jc.get("events"), "job_config.events")
    data = r.mapping(jc.get("data"), "job_config.data")
    ev_in = tuple(_event_io(r, x, f"job_config.events.inputs.{i}.", job_dir, "input")
                  for i, x in enumerate(r.io_list(events.get("inputs"), "job_config.events.inputs")))
    ev_out = tuple(_event_io(r, x, f"job_config.events.outputs.{i}.", job_dir, "output")
                   for i, x in enumerate(r.io_list(events.get("outputs"), "job_config.events.outputs")))
    dead = tuple(_event_io(r, x, f"job_config.dead_letter.{i}.", job_dir, "output")
                 for i, x in enumerate(r.io_list(jc.get("dead_letter"), "job_config.dead_letter")))
    for label, ios in (("events.inputs", ev_in), ("events.outputs", ev_out), ("dead_letter", dead)):
        for streaming in (True, False):
            if sum(io.streaming == streaming for io in ios) > 1:
                kind = "pubsub" if streaming else "file/listing"
                raise r.error(f"job_config.{label}", f"at most one {kind} entry")
    if any(io.type == "listing" for io in ev_out + dead):
        raise r.error("job_config.events.outputs", "pubsub or file outputs (listing is input only)")
    id_pattern = r.string(jc, "id_pattern", "job_config.", default=DEFAULT_ID_PATTERN)
    try:
        re.compile(id_pattern)
    except re.error as exc:
        raise r.error("job_config.id_pattern", "a valid regular expression", id_pattern) from exc
    entry_point = r.string(jc, "entry_point", "job_config.", default="run:run")
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", entry_point):
        raise r.error("job_config.entry_point", "module:function", entry_point)
    return JobConfig(
        job_name=name, version=version, pipeline_options=options,
        event_inputs=ev_in, event_outputs=ev_out, dead_letters=dead,
        data_input=_data_io(r, r.io_list(data.get("inputs"), "job_config.data.inputs"),
                            "job_config.data.inputs.", job_dir, "input"),
        data_output=_data_io(r, r.io_list(data.get("outputs"), "job_config.data.outputs"),
                             "job_config.data.outputs.", job_dir, "output"),
        allow_non_klio_messages=r.boolean(jc, "allow_non_klio_messages", "job_config."),
        blocking=r.boolean(jc, "blocking", "job_config."),
        id_pattern=id_pattern, entry_point=entry_point,
        user={k: v for k, v in jc.items() if k not in _JOB_CONFIG_KEYS},
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


def load_graph(path: str, overrides: list[str] | tuple[str, ...] = (),
               templates: list[str] | tuple[str, ...] = ()) -> GraphConfig:
    """Read, template, override and validate a klio-job.yaml (one document per job)."""
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
    job_dir = os.path.dirname(source)
    jobs = tuple(_job_config(doc, i, source, job_dir) for i, doc in enumerate(docs))
    names = [j.job_name for j in jobs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(source, "job_name", "unique job names", duplicate)
    return GraphConfig(jobs=jobs, source=source, parents=_derive_parents(jobs, source))
