"""Klio-style entry point of the video graph: `run(input_pcol, config)` for each job.

video-features: video ID -> PyAV decode (1 fps) -> Inception-v3 (RunInference) -> feature file
video-iab:      video ID -> feature file -> NeXtVLAD (RunInference) -> labels JSON
The runtime (jobgraph) has already routed each message (recipients, ping, force, existence
checks, bottom-up trigger); these functions turn each message into a Task (its ID and data
paths), do the work and return (messages downstream, dead letters).
"""
from __future__ import annotations

from jobgraph.config import JobConfig
from jobgraph.task import Task
from transforms import job_settings

# Each job's own job_config keys, checked by jobgraph when klio-job.yaml is loaded (Beam is
# imported only when a pipeline is built, so that checking a config stays fast).
SETTINGS = job_settings.SETTINGS


def _tasks(messages, config: JobConfig):
    """Each routed message as a Task: its ID and the data paths of this job (jobgraph.task)."""
    import apache_beam as beam

    return messages | f"[{config.job_name}] To Tasks" >> beam.Map(Task.of, config)


def _messages(tasks, config: JobConfig):
    """Done tasks -> their messages, downstream (their payloads go on to the next job)."""
    import apache_beam as beam

    return tasks | f"[{config.job_name}] Forward Message" >> beam.Map(lambda task: task.message)


def video_features(messages, config: JobConfig):
    from transforms.extract import ExtractFeatures

    extract = ExtractFeatures(job_settings.features_config(config))
    out = _tasks(messages, config) | "[video-features] Extract Features" >> extract
    return _messages(out["main"], config), out["dead_letter"]


def video_iab(messages, config: JobConfig):
    from transforms.classify import ClassifyVideos

    classify = ClassifyVideos(job_settings.classify_config(config))
    out = _tasks(messages, config) | "[video-iab] Classify" >> classify
    return _messages(out["main"], config), out["dead_letter"]


JOBS = {"video-features": video_features, "video-iab": video_iab}


def run(input_pcol, config: JobConfig):
    """Dispatch on the job; an unknown job name is a config error, not a silent no-op."""
    if config.job_name not in JOBS:
        raise ValueError(f"run.py has no job {config.job_name!r}; known: {sorted(JOBS)}")
    return JOBS[config.job_name](input_pcol, config)
