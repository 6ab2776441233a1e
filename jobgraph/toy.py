"""A two-job toy graph that exercises the runtime without any video code.

toy-upper: {root}/in/{id}.txt  -> upper-cased text -> {root}/mid/{id}.txt
toy-count: {root}/mid/{id}.txt -> {"id", "chars", "words"} -> {root}/out/{id}.json
A text containing "FAIL" raises in toy-upper, to show transform errors becoming dead letters.
See examples/toy-graph/klio-job.yaml.
"""
from __future__ import annotations

import json

import apache_beam as beam

from jobgraph import storage
from jobgraph.config import JobConfig
from jobgraph.routing import data_path
from jobgraph.steps import KlioStep, counter


class ToyFailure(RuntimeError):
    reason = "toy-failure"


class UpperCase(KlioStep):
    stage = "upper"

    def __init__(self, job: JobConfig):
        super().__init__(job.job_name)
        self.job = job

    def handle(self, msg):
        element_id = msg.data.element.decode()
        text = storage.read_bytes(data_path(self.job.data_input, element_id)).decode("utf-8")
        if "FAIL" in text:
            raise ToyFailure(f"text of {element_id} asks to fail")
        storage.write_atomically(data_path(self.job.data_output, element_id), text.upper().encode())
        counter(self.job, "toy-upper-written").inc()
        msg.data.payload = json.dumps({"chars": len(text)}).encode()
        return msg


class CountWords(KlioStep):
    stage = "count"

    def __init__(self, job: JobConfig):
        super().__init__(job.job_name)
        self.job = job

    def handle(self, msg):
        element_id = msg.data.element.decode()
        text = storage.read_bytes(data_path(self.job.data_input, element_id)).decode("utf-8")
        record = {"id": element_id, "chars": len(text), "words": len(text.split())}
        storage.write_atomically(data_path(self.job.data_output, element_id), json.dumps(record).encode())
        counter(self.job, "toy-count-written").inc()
        return msg


def run(input_pcol, config: JobConfig):
    """Klio-style entry point: one function, dispatching on the job."""
    step = {"toy-upper": UpperCase, "toy-count": CountWords}[config.job_name](config)
    return step.apply(input_pcol, f"[{config.job_name}] {type(step).__name__}")


__all__ = ["run", "UpperCase", "CountWords", "beam"]
