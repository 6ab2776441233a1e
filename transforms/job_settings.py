"""Typed settings of the two video jobs, read from their klio-job.yaml `job_config` user keys.

video-features:
  decode:   {fps: 1.0, max_frames: 300, policy: head|uniform, max_pixels, max_duration_s, max_file_bytes, max_streams, max_gop_bytes, threads}
  embedder: {weights: imagenet|seeded|PATH, seed: N (with seeded), backend: keras-fp32|openvino-bf16|..., batch_size, cache_dir,
            calibration_frames, calibration_videos}
  pca: PATH.npz or null (null: 2048-d float16 features)
  decode_ahead: 0 (videos decoded ahead in a helper process; transforms.extract.FeaturesConfig)
video-iab:
  model_dir: PATH (local or gs://)
  metadata_location: PATH or null (sidecar {id}.json upload metadata)
  textual_location: PATH or null (a textual model's {id}.json labels, merged as a union)
  top_k: 20
Errors name the file, the job and the key (jobgraph.config.ConfigError).
"""
from __future__ import annotations

import dataclasses
import os

from jobgraph.config import ConfigError, JobConfig


def _section(job: JobConfig, key: str) -> dict:
    value = job.user.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(job.source, f"job {job.job_name}: job_config.{key}", "a mapping", value)
    return value


def _build(cls, job: JobConfig, key: str, values: dict):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.{key}.{unknown[0]}",
                          f"one of {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.{key}", "valid settings", str(exc)) from exc


def _path(job: JobConfig, value):
    if value is None or "://" in str(value) or os.path.isabs(str(value)):
        return value
    return os.path.normpath(os.path.join(job.job_dir, str(value)))


def features_config(job: JobConfig):
    """FeaturesConfig for the video-features job (its data output is where feature files go)."""
    from model.embedder import EmbedderConfig
    from transforms.decode import DecodeConfig
    from transforms.extract import FeaturesConfig

    if job.data_input is None or job.data_output is None:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.data",
                          "one data input (videos) and one data output (features)")
    if job.data_output.file_suffix != ".tfrecord":
        raise ConfigError(job.source, f"job {job.job_name}: job_config.data.outputs.0.file_suffix",
                          ".tfrecord", job.data_output.file_suffix)
    embedder = dict(_section(job, "embedder"))
    for key in ("cache_dir", "calibration_videos"):
        if key in embedder:
            embedder[key] = _path(job, embedder[key])
    if embedder.get("weights") not in (None, "imagenet", "seeded"):
        embedder["weights"] = _path(job, embedder["weights"])
    decode_ahead = job.user.get("decode_ahead", 0)
    if not isinstance(decode_ahead, int) or isinstance(decode_ahead, bool) or decode_ahead < 0:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.decode_ahead", "an integer >= 0",
                          decode_ahead)
    return FeaturesConfig(
        output_location=job.data_output.location, job_name=job.job_name, decode_ahead=decode_ahead,
        decode=_build(DecodeConfig, job, "decode", _section(job, "decode")),
        embedder=_build(EmbedderConfig, job, "embedder", embedder),
        pca_path=_path(job, job.user.get("pca")), skip_existing=False,  # the runtime checks outputs
        id_pattern=job.id_pattern)


def _require_model_files(job: JobConfig, model_dir: str) -> None:
    """A missing model is an infrastructure problem: fail before the run, not per element."""
    from model.artifacts import missing_files

    missing = missing_files(model_dir)
    if missing:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.model_dir",
                          f"a trained model directory (missing {', '.join(missing)} in {model_dir})")


def classify_config(job: JobConfig):
    from transforms.classify import ClassifyConfig

    if job.data_input is None or job.data_output is None:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.data",
                          "one data input (features) and one data output (labels)")
    model_dir = job.user.get("model_dir")
    if not isinstance(model_dir, str) or not model_dir:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.model_dir",
                          "a model directory (local or gs://)", model_dir)
    _require_model_files(job, _path(job, model_dir))
    top_k = job.user.get("top_k", 20)
    if not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(job.source, f"job {job.job_name}: job_config.top_k", "a positive integer", top_k)
    return ClassifyConfig(
        job_name=job.job_name, features_location=job.data_input.location,
        labels_location=job.data_output.location, model_dir=_path(job, model_dir),
        metadata_location=_path(job, job.user.get("metadata_location")),
        textual_location=_path(job, job.user.get("textual_location")), top_k=top_k)
