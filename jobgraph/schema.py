"""The schema of one klio-job.yaml document (one job), as pydantic models.

Every section rejects unknown keys (`extra="forbid"`), except `pipeline_options` (passed on to
Beam) and `job_config` (its other keys are the job's own settings, checked against the model
the job's entry point declares: jobgraph.settings). Values are checked strictly (a quoted
"true" is not true, "10" is not 10). Klio keys this runtime does not implement are declared `Unsupported`,
so that they get their own message instead of "unknown key".

Parsing only: jobgraph.config turns a validated `KlioJobDoc` into the frozen `JobConfig` the
runtime uses (locations resolved, one data input/output picked). Validators report problems
with `invalid(...)`, whose text jobgraph.schema_errors passes on unchanged.
"""
from __future__ import annotations

import dataclasses
import re
import typing
from typing import Annotated, Any, Literal, Mapping

from pydantic import (AfterValidator, AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field,
                      WithJsonSchema, create_model, model_serializer, model_validator)
from pydantic_core import PydanticCustomError

from jobgraph.ids import DEFAULT_ID_PATTERN

STREAMING_EVENT_TYPES = ("pubsub",)
BATCH_EVENT_TYPES = ("file", "listing")
DATA_TYPES = ("gcs", "file")
KLIO_PIPELINE_DEFAULTS = {"runner": "DataflowRunner", "streaming": True}
JOB_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
UNSUPPORTED = "Klio key not supported by this runtime"
INVALID, NOT_SUPPORTED = "jobgraph_invalid", "jobgraph_unsupported"  # our pydantic error types


def invalid(expected: str, got: Any = ..., key: str | None = None) -> PydanticCustomError:
    """A problem in the user's terms ("expected X, got Y"); `key` names the key inside the
    section when a section-level check finds it."""
    text = f"expected {expected}" + ("" if got is ... else f", got {got!r}")
    return PydanticCustomError(INVALID, "{text}", {"text": text, "key": key})


def _not_supported(value: Any) -> Any:
    raise PydanticCustomError(NOT_SUPPORTED, "{text}", {"text": UNSUPPORTED, "key": None})


def _rejected(message: str):
    """A key that is valid elsewhere but not here (e.g. `force` on a data input)."""
    def reject(value: Any) -> Any:
        raise PydanticCustomError(INVALID, "{text}", {"text": message, "key": None})
    return Annotated[Any, BeforeValidator(reject), WithJsonSchema({"not": {}, "description": message})]


# A Klio key this runtime does not implement: accepted by Klio, an error here.
Unsupported = Annotated[Any, BeforeValidator(_not_supported),
                        WithJsonSchema({"not": {}, "description": UNSUPPORTED})]


def unsupported() -> Any:
    """The Field of an `Unsupported` key: absent by default, never shown."""
    return Field(None, exclude=True)


def is_unsupported(field) -> bool:
    return any(getattr(m, "func", None) is _not_supported for m in field.metadata)


def _or(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


def _choice(values: tuple[str, ...], klio_only: tuple[str, ...] = (), notes: dict | None = None):
    """A string out of `values`; Klio's own values that this runtime lacks get their message."""
    def check(value: str) -> str:
        if value in klio_only:
            raise PydanticCustomError(NOT_SUPPORTED, "{text}", {
                "text": f"Klio IO type {value!r} not supported by this runtime (expected {_or(values)})",
                "key": None})
        if value not in values:
            raise invalid((notes or {}).get(value, _or(values)), value)
        return value
    return Annotated[str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(values)})]


def _pubsub_path(kind: str):
    pattern = re.compile(rf"projects/[^/]+/{kind}s/[^/]+")

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise invalid(f"projects/PROJECT/{kind}s/NAME", value)
        return value
    return Annotated[str, AfterValidator(check),
                     WithJsonSchema({"type": "string", "pattern": f"^{pattern.pattern}$"})]


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error:
        raise invalid("a valid regular expression", value) from None
    return value


def _none_is_empty(empty):
    """`key:` with no value means the section's defaults, as in Klio."""
    return BeforeValidator(lambda value: empty() if value is None else value)


def _io_list(value: Any) -> Any:
    if value is None:
        return []
    return list(value.values()) if isinstance(value, dict) else value  # Klio's {name: {...}} form


NonEmpty = Annotated[str, Field(min_length=1)]
Suffix = Annotated[str, _none_is_empty(str)]
Topic, Subscription = _pubsub_path("topic"), _pubsub_path("subscription")
EventType = _choice(STREAMING_EVENT_TYPES + BATCH_EVENT_TYPES, klio_only=("bq", "avro", "custom"))
OutputType = _choice(("pubsub", "file"), klio_only=("bq", "avro", "custom"),
                     notes={"listing": "pubsub or file (listing is input only)"})
DataType = _choice(DATA_TYPES, klio_only=("custom",))


class Section(BaseModel):
    """A section of klio-job.yaml: unknown keys rejected, values checked strictly, immutable.
    Job settings models (jobgraph.settings) derive from it too."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def section_of(source: type, annotations: Mapping[str, Any] | None = None,
               exclude: tuple[str, ...] = ()) -> type[Section]:
    """A Section with one key per field of the dataclass `source`, in its order, with the type
    and default the dataclass declares: a job's settings and the config object its code takes
    are then one list of fields. `annotations[name]` replaces a field's type by a stricter one
    for the user (e.g. `Annotated[int, Field(ge=1, description="a positive integer")]` or a
    `Literal`); the default still comes from the dataclass. Fields in `exclude` are set by the
    code, not the user: they are no keys."""
    annotations = dict(annotations or {})
    hints = typing.get_type_hints(source)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(source):
        if field.name in exclude:
            continue
        default = field.default
        if default is dataclasses.MISSING:
            default = ... if field.default_factory is dataclasses.MISSING else field.default_factory()
        fields[field.name] = (annotations.pop(field.name, hints[field.name]), default)
    if annotations:
        raise TypeError(f"{source.__name__} has no fields {sorted(annotations)}")
    return create_model(f"{source.__name__}Settings", __base__=Section,
                        __doc__=f"The keys of {source.__name__}, its defaults.", **fields)


class _IO(Section):
    name: str | None = None  # Klio's IO name (its preprocessed form keys IO lists by it)

    @model_serializer(mode="wrap")
    def _set_keys_only(self, handler):  # the effective config shows what applies, not nulls
        return {k: v for k, v in handler(self).items() if v is not None}


class _EventIO(_IO):
    """What event inputs and outputs share: a topic or a file location, and Klio's skip
    switches, which this runtime does not implement."""

    type: str  # narrowed by each subclass; declared here to come first
    topic: Topic | None = None
    location: NonEmpty | None = None
    file_suffix: Suffix = ""
    skip_klio_read: Unsupported = unsupported()
    skip_klio_write: Unsupported = unsupported()

    def _require(self, pubsub_ok: bool, pubsub_need: str, pubsub_key: str):
        if self.type == "pubsub" and not pubsub_ok:
            raise invalid(pubsub_need, key=pubsub_key)
        if self.type == "file" and not self.location:
            raise invalid("a file location", key="location")
        return self


class EventInputDoc(_EventIO):
    type: EventType
    subscription: Subscription | None = None

    @model_validator(mode="after")
    def _complete(self):
        return self._require(bool(self.topic or self.subscription),
                             "a subscription or topic for a pubsub input", "subscription")


class EventOutputDoc(_EventIO):
    type: OutputType

    @model_validator(mode="after")
    def _complete(self):
        return self._require(bool(self.topic), "a topic for a pubsub output", "topic")


def _one_per_mode(ios: list, key: str) -> None:
    """One pubsub entry (streaming) and one file/listing entry (batch) at most."""
    for streaming in (True, False):
        if sum((io.type in STREAMING_EVENT_TYPES) == streaming for io in ios) > 1:
            raise invalid(f"at most one {'pubsub' if streaming else 'file/listing'} entry", key=key)


class EventsDoc(Section):
    inputs: Annotated[list[EventInputDoc], BeforeValidator(_io_list)] = []
    outputs: Annotated[list[EventOutputDoc], BeforeValidator(_io_list)] = []

    @model_validator(mode="after")
    def _modes(self):
        _one_per_mode(self.inputs, "inputs")
        _one_per_mode(self.outputs, "outputs")
        return self


class _DataIODoc(_IO):
    type: DataType
    location: NonEmpty = Field(validation_alias=AliasChoices("location", "data_location"),
                               description="a non-empty location")
    file_suffix: Suffix = ""
    skip_klio_existence_check: bool = False


class DataInputDoc(_DataIODoc):
    ping: bool = False
    force: _rejected("force is only valid on data outputs") = Field(None, exclude=True)


class DataOutputDoc(_DataIODoc):
    force: bool = False
    ping: _rejected("ping is only valid on data inputs") = Field(None, exclude=True)


def _at_most_one(what: str):
    def check(items: list) -> list:
        if len(items) > 1:
            raise invalid(f"at most one {what}", len(items))
        return items
    return AfterValidator(check)


class DataDoc(Section):
    inputs: Annotated[list[DataInputDoc], BeforeValidator(_io_list), _at_most_one("data input")] = []
    outputs: Annotated[list[DataOutputDoc], BeforeValidator(_io_list), _at_most_one("data output")] = []


class JobConfigDoc(Section):
    """Klio's job_config keys; any other key is the job's own (see jobgraph.settings)."""

    model_config = ConfigDict(extra="allow")
    events: Annotated[EventsDoc, _none_is_empty(dict)] = Field(default_factory=EventsDoc)
    data: Annotated[DataDoc, _none_is_empty(dict)] = Field(default_factory=DataDoc)
    dead_letter: Annotated[list[EventOutputDoc], BeforeValidator(_io_list)] = []
    allow_non_klio_messages: bool = False
    blocking: bool = False  # wait for a remote (Dataflow) job to finish; local runs always wait
    id_pattern: Annotated[str, AfterValidator(_regex)] = DEFAULT_ID_PATTERN
    entry_point: str = Field("run:run", pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                             description="module:function")
    metrics: Unsupported = unsupported()
    wait_for_pipeline_running: Unsupported = unsupported()
    number_of_retries: Unsupported = unsupported()
    timeout_threshold: Unsupported = unsupported()
    thread_pool_processes: Unsupported = unsupported()

    @model_validator(mode="after")
    def _dead_letter_modes(self):
        _one_per_mode(self.dead_letter, "dead_letter")
        return self


class PipelineOptionsDoc(Section):
    """The keys this runtime reads; every other key goes to Beam's PipelineOptions as is."""

    model_config = ConfigDict(extra="allow")
    project: NonEmpty = Field(description="a GCP project name (it is the job's Klio identity)")
    streaming: bool = Field(KLIO_PIPELINE_DEFAULTS["streaming"], description="true or false")
    runner: str = KLIO_PIPELINE_DEFAULTS["runner"]

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:  # `key: null` means Beam's default, as in Klio
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class KlioJobDoc(Section):
    """One YAML document of klio-job.yaml: one job."""

    version: Literal[2] = Field(2, description="2 (Klio v1 job configs are not supported)")
    job_name: str = Field(pattern=f"^{JOB_NAME.pattern}$",
                          description="lower-case letters, digits and '-' (a Beam/Dataflow job name)")
    pipeline_options: Annotated[PipelineOptionsDoc, _none_is_empty(dict)] = Field(
        default_factory=dict, validate_default=True)
    job_config: JobConfigDoc = Field(description="a mapping")


def supported_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section accepts (aliases included), Klio keys it rejects left out."""
    keys = []
    for name, field in model.model_fields.items():
        if is_unsupported(field) or field.exclude:
            continue
        keys.append(name)
        alias = field.validation_alias
        keys += [a for a in getattr(alias, "choices", []) if isinstance(a, str) and a != name]
    return keys

