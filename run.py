"""Klio-style entry point of the video graph: `run(input_pcol, config)` for each job.

video-features: video ID -> PyAV decode (1 fps) -> Inception-v3 (RunInference) -> {features}/{id}.tfrecord
video-iab:      video ID -> feature file -> NeXtVLAD (RunInference) -> {labels}/{id}.json
The runtime (jobgraph) has already routed each message (recipients, ping, force, existence
checks, bottom-up trigger); these functions do the work and return (outputs, dead_letters).
"""
from __future__ import annotations

import apache_beam as beam

from jobgraph.config import JobConfig
from transforms import job_settings


def _video_pair(msg, videos_location: str, suffix: str):
    element = msg.data.element.decode("utf-8")
    return element, f"{videos_location.rstrip('/')}/{element}{suffix}", msg.SerializeToString()


def video_features(messages, config: JobConfig):
    import dataclasses

    from jobgraph.message import KlioMessage
    from transforms.extract import ExtractFeatures
    from transforms.upload_metadata import metadata_from_message

    # The passthrough is the serialized message: its payload's upload metadata is stored with
    # the features, so a batch rerun of video-iab still has it.
    settings = dataclasses.replace(job_settings.features_config(config), upload_metadata=metadata_from_message)
    data_in = config.data_input
    triples = messages | "[video-features] To Video Paths" >> beam.Map(
        _video_pair, data_in.location, data_in.file_suffix)
    out = triples | "[video-features] Extract Features" >> ExtractFeatures(settings)
    # The message goes on unchanged (its payload, e.g. upload metadata, reaches video-iab).
    forwarded = out["main"] | "[video-features] Forward Message" >> beam.Map(
        lambda written: KlioMessage.FromString(written[3]))
    return forwarded, out["dead_letter"]


def video_iab(messages, config: JobConfig):
    from transforms.classify import ClassifyVideos

    out = messages | "[video-iab] Classify" >> ClassifyVideos(job_settings.classify_config(config))
    return out["main"], out["dead_letter"]


JOBS = {"video-features": video_features, "video-iab": video_iab}


def run(input_pcol, config: JobConfig):
    """Dispatch on the job; an unknown job name is a config error, not a silent no-op."""
    if config.job_name not in JOBS:
        raise ValueError(f"run.py has no job {config.job_name!r}; known: {sorted(JOBS)}")
    return JOBS[config.job_name](input_pcol, config)
