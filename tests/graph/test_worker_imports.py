"""A graph worker whose conversion caches are warm runs without TensorFlow or Keras: the
embedder, the audio embedder and the classifier on OpenVINO, feature files written and read with the codec's own
protobuf. Python's import log (PYTHONPROFILEIMPORTTIME, inherited by Beam's worker processes)
of a whole two-worker graph run is checked module by module."""
from __future__ import annotations

import os
import re

from tests.graph.helpers import files_under, job_run, location_overrides, openvino_embedder_overrides
from transforms import synthetic_video as sv

FORBIDDEN = ("tensorflow", "keras", "tf_keras")
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def _video(path: str, seed: int) -> None:
    sv.write_video(path, sv.VideoSpec(content="scene", category=seed % 6, seed=seed, duration_s=2.0,
                                      fps=5.0, width=64, height=48))


def _imported(stderr: str) -> set[str]:
    return {m.group(1) for m in map(IMPORT_LINE.match, stderr.splitlines()) if m}


def test_graph_workers_import_no_tensorflow_once_conversions_are_cached(tmp_path):
    root, cache = tmp_path / "root", os.environ["VIDEO_IAB_CACHE"]
    (root / "videos").mkdir(parents=True)
    openvino = [*openvino_embedder_overrides(), "-O", f"video-iab:job_config.classifier.cache_dir={cache}/classifier"]
    _video(str(root / "videos" / "warm.mp4"), seed=1)
    job_run(*location_overrides(str(root)), *openvino)  # converts both models (or finds them)

    for i in range(3):
        _video(str(root / "videos" / f"v{i}.mp4"), seed=2 + i)
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    proc = job_run(*location_overrides(str(root)), *openvino,
                   "-O", "pipeline_options.direct_num_workers=2",
                   "-O", "pipeline_options.direct_running_mode=multi_processing", env=env)
    assert files_under(str(root / "labels")) == ["v0.json", "v1.json", "v2.json", "warm.json"]
    modules = _imported(proc.stderr)
    # the log covers the workers: the launcher never loads a model
    assert {"model.classifier.backends", "model.embedding.openvino_backend", "model.audio.backends",
            "av"} <= modules
    assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN) == []
