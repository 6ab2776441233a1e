"""Typed settings of the two video jobs: their own klio-job.yaml `job_config` keys.

Declared as pydantic models; run.py exposes them as `SETTINGS`, so jobgraph checks every job's
keys when the config is loaded (`klio job verify`, `klio job run`): unknown keys and wrong types
are one-line errors naming the file, the job and the key (jobgraph.config.ConfigError).
`features_config` / `classify_config` turn a job into the FeaturesConfig / ClassifyConfig its
transforms take; relative paths are resolved next to klio-job.yaml.

video-features:
  decode:   transforms.decode.DecodeConfig's keys (fps, max_frames, policy: head|uniform, ...)
  embedder: the embedder's EmbedderConfig keys (weights: imagenet|seeded|PATH, seed, backend, ...)
  pca: PATH.npz or null (null: 2048-d float16 features)
  audio: the audio embedder's AudioEmbedderConfig keys (weights: seeded|PATH, seed, pca_params,
    backend, ...), or null / absent: no audio extracted
  decode_ahead: 0 (videos decoded ahead in a helper process; transforms.extract.FeaturesConfig)
video-iab:
  model_dir: PATH (local or gs://)
  classifier: {backend: openvino|keras, cache_dir: PATH or null (the conversion cache; null:
    $VIDEO_IAB_CACHE, else ~/.cache/video-iab)}
  metadata_location: PATH or null (sidecar {id}.json upload metadata)
  textual_location: PATH or null (a textual model's {id}.json labels, merged as a union)
  top_k: 20
"""
from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from jobgraph.config import ConfigError, JobConfig, validate_settings
from jobgraph.locations import Location
from jobgraph.schema import Section, invalid, section_of
from model.audio.config import BACKENDS as AUDIO_BACKENDS, AudioEmbedderConfig
from model.audio.constants import DIM as AUDIO_DIM
from model.embedding.config import EmbedderConfig
from transforms.decode_config import POLICIES, DecodeConfig
from transforms.decode_fast import MODES

# `decode:` with no value means the defaults.
_DEFAULTS_IF_NULL = BeforeValidator(lambda value: {} if value is None else value)


def _at_least(bound: int | float, description: str, *, strictly: bool = False):
    """A number type with a lower bound, described in the user's terms."""
    kind = float if isinstance(bound, float) else int
    limit = {"gt": bound} if strictly else {"ge": bound}
    return Annotated[kind, Field(description=description, **limit)]


_POSITIVE = _at_least(1, "a positive integer")

# DecodeConfig's and EmbedderConfig's own fields, types and defaults, checked as the user wrote
# them: only the bounds and choices are added here.
DecodeSettings = section_of(DecodeConfig, {
    "fps": _at_least(0.0, "a number > 0 (samples per second)", strictly=True),
    "max_frames": _POSITIVE,
    "policy": Literal[POLICIES],
    "size": _at_least(8, "an integer >= 8 (frame side in pixels)"),
    "max_pixels": _POSITIVE,
    "max_duration_s": _at_least(0.0, "a number of seconds > 0", strictly=True),
    "max_file_bytes": _POSITIVE,
    "max_streams": _POSITIVE,
    "max_gop_bytes": _POSITIVE,
    "threads": _at_least(0, "an integer >= 0 (0: one per core)"),
    "max_decode_errors": _at_least(0, "an integer >= 0"),
    "mode": Literal[MODES],
}, exclude=("audio",))  # decoding hears audio when the job has an `audio:` embedder


class EmbedderSettings(section_of(EmbedderConfig, {
        "weights": Annotated[str, Field(min_length=1, description="imagenet, seeded or a weights file")],
        "backend": Annotated[str, Field(min_length=1, description="an embedder backend name")],
        "batch_size": _POSITIVE, "batch_frames": _POSITIVE, "calibration_frames": _POSITIVE})):
    """EmbedderConfig's keys: a seed goes with seeded weights, and only with them."""

    @model_validator(mode="after")
    def _seed_with_seeded_weights(self):
        return _check_seed(self)


class AudioSettings(section_of(AudioEmbedderConfig, {
        "weights": Annotated[str, Field(min_length=1, description="seeded or a weights file")],
        "backend": Literal[AUDIO_BACKENDS],
        "batch_size": _POSITIVE, "batch_windows": _POSITIVE,
        "calibration_windows": _at_least(AUDIO_DIM + 1, f"an integer > {AUDIO_DIM} (a PCA is fitted on them)")})):
    """AudioEmbedderConfig's keys: a seed goes with seeded weights, and only with them."""

    @model_validator(mode="after")
    def _seed_with_seeded_weights(self):
        return _check_seed(self)


def _check_seed(section):
    if section.weights == "seeded" and section.seed is None:
        raise invalid("an integer seed with weights: seeded", key="seed")
    if section.weights != "seeded" and section.seed is not None:
        raise invalid("no seed unless weights: seeded", section.seed, key="seed")
    return section


class FeaturesSettings(Section):
    """video-features' own keys."""

    decode: Annotated[DecodeSettings, _DEFAULTS_IF_NULL] = Field(default_factory=DecodeSettings)
    embedder: Annotated[EmbedderSettings, _DEFAULTS_IF_NULL] = Field(default_factory=EmbedderSettings)
    audio: AudioSettings | None = None
    pca: Location | None = Field(None, min_length=1, description="a PCA .npz file, or null for 2048-d features")
    decode_ahead: int = Field(0, ge=0, description="an integer >= 0")


class ClassifierSettings(Section):
    """The classifier's runtime: OpenVINO (no TensorFlow in workers once converted) or Keras."""

    backend: Literal["openvino", "keras"] = "openvino"
    cache_dir: str | None = Field(None, min_length=1, description="a local directory for converted models")


class ClassifySettings(Section):
    """video-iab's own keys."""

    model_dir: Location = Field(min_length=1, description="a model directory (local or gs://)")
    classifier: Annotated[ClassifierSettings, _DEFAULTS_IF_NULL] = Field(default_factory=ClassifierSettings)
    metadata_location: Location | None = None
    textual_location: Location | None = None
    top_k: int = Field(20, ge=1, description="a positive integer")


# What run.py declares to jobgraph: the settings model of each job.
SETTINGS = {"video-features": FeaturesSettings, "video-iab": ClassifySettings}


def _build(cls, job: JobConfig, key: str, values: dict):
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.{key}", "valid settings", str(exc)) from exc


def _path(job: JobConfig, value):
    if value is None or "://" in str(value) or os.path.isabs(str(value)):
        return value
    return os.path.normpath(os.path.join(job.job_dir, str(value)))


def _given(job: JobConfig, key: str, section: Section) -> dict:
    """The validated keys the user set, values as written (2, not 2.0): the dataclasses' own
    defaults apply to the rest, as before the schema existed."""
    return {name: job.user[key][name] for name in section.model_fields_set}


def _require_data(job: JobConfig, what: str) -> None:
    if job.data_input is None or job.data_output is None:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.data", what)


def features_config(job: JobConfig):
    """FeaturesConfig for the video-features job (its data output is where feature files go)."""
    from transforms.extract import FeaturesConfig

    _require_data(job, "one data input (videos) and one data output (features)")
    settings = validate_settings(job, FeaturesSettings)
    embedder = _paths_resolved(job, _given(job, "embedder", settings.embedder),
                               ("cache_dir", "calibration_videos", "weights"))
    audio = None
    if settings.audio is not None:
        audio = _build(AudioEmbedderConfig, job, "audio", _paths_resolved(
            job, _given(job, "audio", settings.audio), ("cache_dir", "pca_params", "weights")))
    return FeaturesConfig(
        job_name=job.job_name, decode_ahead=settings.decode_ahead,
        decode=_build(DecodeConfig, job, "decode", _given(job, "decode", settings.decode)),
        embedder=_build(EmbedderConfig, job, "embedder", embedder), audio=audio,
        pca_path=_path(job, settings.pca), skip_existing=False,  # the runtime checks outputs
        id_pattern=job.id_pattern)


def _paths_resolved(job: JobConfig, values: dict, keys: tuple[str, ...]) -> dict:
    """`values` with the paths among `keys` resolved next to klio-job.yaml ("imagenet" and
    "seeded" weights are names, not paths)."""
    return {key: _path(job, value) if key in keys and value not in ("imagenet", "seeded") else value
            for key, value in values.items()}


def _require_model_files(job: JobConfig, model_dir: str) -> None:
    """A missing model is an infrastructure problem: fail before the run, not per element."""
    from model.classifier.artifacts import missing_files

    missing = missing_files(model_dir)
    if missing:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.model_dir",
                          f"a trained model directory (missing {', '.join(missing)} in {model_dir})")


def classify_config(job: JobConfig):
    from transforms.classify import ClassifyConfig

    _require_data(job, "one data input (features) and one data output (labels)")
    settings = validate_settings(job, ClassifySettings)
    model_dir = _path(job, settings.model_dir)
    _require_model_files(job, model_dir)
    return ClassifyConfig(
        job_name=job.job_name, model_dir=model_dir,
        metadata_location=_path(job, settings.metadata_location),
        textual_location=_path(job, settings.textual_location), top_k=settings.top_k,
        backend=settings.classifier.backend, cache_dir=_path(job, settings.classifier.cache_dir))
