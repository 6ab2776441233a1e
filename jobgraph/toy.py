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


class _TextStep(KlioStep):
    """Read {data input}/{id}, write convert(id, text) to {data output}/{id}."""

    def __init__(self, job: JobConfig):
        super().__init__(job.job_name)
        self.job = job

    def convert(self, element_id: str, text: str) -> str:
        raise NotImplementedError

    def handle(self, msg):
        element_id = msg.data.element.decode()
        text = storage.read_bytes(data_path(self.job.data_input, element_id)).decode("utf-8")
        storage.write_atomically(data_path(self.job.data_output, element_id),
                                 self.convert(element_id, text).encode("utf-8"))
        counter(self.job, f"{self.job.job_name}-written").inc()
        msg.data.payload = json.dumps({"chars": len(text)}).encode()
        return msg


class UpperCase(_TextStep):
    stage = "upper"

    def convert(self, element_id: str, text: str) -> str:
        if "FAIL" in text:
            raise ToyFailure(f"text of {element_id} asks to fail")
        return text.upper()


class CountWords(_TextStep):
    stage = "count"

    def convert(self, element_id: str, text: str) -> str:
        return json.dumps({"id": element_id, "chars": len(text), "words": len(text.split())})


def run(input_pcol, config: JobConfig):
    """Klio-style entry point: one function, dispatching on the job."""
    step = {"toy-upper": UpperCase, "toy-count": CountWords}[config.job_name](config)
    return step.apply(input_pcol, f"[{config.job_name}] {type(step).__name__}")


__all__ = ["run", "UpperCase", "CountWords", "beam"]
