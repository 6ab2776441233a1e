"""A two-job toy graph that exercises the runtime without any video code.

toy-upper: {root}/in/{id}.txt  -> upper-cased text -> {root}/mid/{id}.txt
toy-count: {root}/mid/{id}.txt -> {"id", "chars", "words"} -> {root}/out/{id}.json
A text containing "FAIL" raises in toy-upper, to show transform errors becoming dead letters.
This is a job's own code, as a user writes it next to klio-job.yaml (`entry_point: toy:run`).
"""
from __future__ import annotations

import json

import apache_beam as beam

from jobgraph import storage
from jobgraph.config import JobConfig
from jobgraph.deadletter import StepChain, failed
from jobgraph.routing import data_path
from jobgraph.steps import counter


class ToyFailure(RuntimeError):
    reason = "toy-failure"


class TextStep(beam.DoFn):
    """Read {data input}/{id}, write convert(id, text) to {data output}/{id}; a failure is a
    dead letter of stage `stage` (its reason: the exception's `reason`, else its class)."""

    def __init__(self, job: JobConfig, convert, stage: str):
        self.job, self.convert, self.stage = job, convert, stage

    def process(self, msg):
        element_id = msg.data.element.decode()
        try:
            text = storage.read_bytes(data_path(self.job.data_input, element_id)).decode("utf-8")
            storage.write_atomically(data_path(self.job.data_output, element_id),
                                     self.convert(element_id, text).encode("utf-8"))
        except Exception as exc:  # every failure becomes a record, never a crash
            yield failed(self.job.job_name, element_id, self.stage, exc)
            return
        counter(self.job, f"{self.job.job_name}-written").inc()
        msg.data.payload = json.dumps({"chars": len(text)}).encode()
        yield msg


def upper_case(element_id: str, text: str) -> str:
    if "FAIL" in text:
        raise ToyFailure(f"text of {element_id} asks to fail")
    return text.upper()


def count_words(element_id: str, text: str) -> str:
    return json.dumps({"id": element_id, "chars": len(text), "words": len(text.split())})


STEPS = {"toy-upper": (upper_case, "upper"), "toy-count": (count_words, "count")}


def run(input_pcol, config: JobConfig):
    """Klio-style entry point: one function, dispatching on the job."""
    step = TextStep(config, *STEPS[config.job_name])
    chain = StepChain(config.job_name)
    out = chain.par_do(input_pcol, f"[{config.job_name}] {step.convert.__name__}", step).main
    return out, chain.dead_letters(f"[{config.job_name}] dead letters")
