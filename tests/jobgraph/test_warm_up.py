"""StepChain.run_inference's warm-up: a streaming pipeline loads each RunInference step's model
when it starts, before any element (without it, the streaming runner sets a step up only when
an element reaches it); the warm-up element never reaches an output or a dead letter; a batch
pipeline gets no warm-up (its runner sets every step up when it runs anyway).

The handler here is a real Beam ModelHandler over a numpy function (what is under test is the
runtime's wiring, not a model); it records each model load in a file, so the assertion holds
across the runner's threads. Pipelines run on the BundleBasedDirectRunner (streaming: a
TestStream input) and the FnApiRunner (batch).
"""
from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream as EventStream  # not a test class
from apache_beam.testing.util import assert_that, equal_to

from jobgraph.deadletter import StepChain
from model.inference_base import ModelHandler, run_concatenated


class DoublingHandler(ModelHandler):
    """(key, float32[T]) -> (key, float32[T, 1]) doubled; raises on a negative value."""

    def __init__(self, loads_file: str):
        super().__init__()
        self.loads_file = loads_file

    def load_model(self):
        with open(self.loads_file, "a", encoding="utf-8") as fh:
            fh.write("loaded\n")
        return self._double

    @staticmethod
    def _double(rows: np.ndarray) -> np.ndarray:
        if (rows < 0).any():
            raise ValueError("negative input")
        return (rows * 2).reshape(-1, 1)

    def run_inference(self, batch, model, inference_args=None):
        return run_concatenated(batch, model, np.zeros((0, 1), np.float32))


def _chain_outputs(pcoll, loads_file: str, warm_up: bool = True):
    chain = StepChain("job", "job")
    results = chain.run_inference(pcoll, "double", DoublingHandler(loads_file), "double", "double-error",
                                  lambda element: element[0],
                                  warm_up=np.zeros((0,), np.float32) if warm_up else None)
    summed = results | beam.MapTuple(lambda key, rows: (key, float(rows.sum())))
    letters = chain.dead_letters() | beam.Map(lambda letter: (letter.element, letter.reason))
    return summed, letters


def _loads(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as fh:
        return len(fh.read().split())


def _streaming(elements: list, loads_file: str, warm_up: bool = True) -> None:
    options = PipelineOptions(streaming=True, runner="BundleBasedDirectRunner")
    with beam.Pipeline(options=options) as p:
        stream = EventStream()
        if elements:
            stream = stream.add_elements(elements)
        summed, letters = _chain_outputs(p | stream.advance_watermark_to_infinity(), loads_file,
                                        warm_up)
        expected = [(key, float(2 * rows.sum())) for key, rows in elements if (rows >= 0).all()]
        assert_that(summed, equal_to(expected), label="results")
        assert_that(letters, equal_to([(key, "double-error") for key, rows in elements
                                       if (rows < 0).any()]), label="dead letters")


def test_streaming_pipeline_loads_the_model_before_any_element(tmp_path):
    loads = str(tmp_path / "loads")
    _streaming([], loads)
    assert _loads(loads) == 1  # no element came: only the warm-up loaded it


def test_streaming_results_and_dead_letters_never_carry_the_warm_up(tmp_path):
    loads = str(tmp_path / "loads")
    elements = [("a", np.array([1.0, 2.0], np.float32)), ("b", np.array([3.0], np.float32)),
                ("bad", np.array([-1.0], np.float32))]
    _streaming(elements, loads)
    assert _loads(loads) >= 1


def test_without_warm_up_the_streaming_runner_loads_no_model_until_an_element_comes(tmp_path):
    loads = str(tmp_path / "loads")
    _streaming([], loads, warm_up=False)
    assert _loads(loads) == 0


def test_batch_pipeline_gets_no_warm_up(tmp_path):
    loads = str(tmp_path / "loads")
    elements = [("a", np.array([1.0], np.float32)), ("bad", np.array([-1.0], np.float32))]
    p = beam.Pipeline(options=PipelineOptions(runner="FnApiRunner"))
    summed, letters = _chain_outputs(p | beam.Create(elements), loads)
    assert_that(summed, equal_to([("a", 2.0)]), label="results")
    assert_that(letters, equal_to([("bad", "double-error")]), label="dead letters")
    labels = [t.unique_name for t in p.to_runner_api().components.transforms.values()]
    p.run().wait_until_finish()
    assert not [label for label in labels if "warm-up" in label]


class _ModelNotToCall:
    """Stands for a loaded model: calling any of its methods fails the test."""

    def __getattr__(self, name):
        if name == "classifier":  # the classifier handler reads its config first
            return self
        if name == "config":
            return self.model_config
        def called(*args, **kwargs):
            raise AssertionError(f"the warm-up input reached the model ({name})")
        return called


def test_each_handler_answers_its_warm_up_input_without_the_model():
    from model.audio.config import AudioEmbedderConfig
    from model.audio.handler import AudioEmbedderHandler
    from model.classifier.config import load_config
    from model.classifier.handler import ClassifierHandler
    from model.embedding.config import EmbedderConfig
    from model.embedding.handler import EmbedderHandler
    from transforms.calibration import CALIBRATION

    demo_model = os.path.join(os.path.dirname(__file__), "..", "..", "demo", "model")
    model = _ModelNotToCall()
    model.__dict__["model_config"] = load_config(os.path.join(demo_model, "config.yaml"))
    for handler in (EmbedderHandler(EmbedderConfig(), CALIBRATION), AudioEmbedderHandler(AudioEmbedderConfig())):
        [(key, rows)] = handler.run_inference([("w", handler.warm_up_input())], model)
        assert key == "w" and len(rows) == 0
    classifier = ClassifierHandler(demo_model)
    [(key, _, prediction)] = classifier.run_inference([("w", classifier.warm_up_input())], model)
    assert key == "w" and prediction["error"].reason == "feature-size-mismatch"
