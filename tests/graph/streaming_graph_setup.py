"""Render the root klio-job.yaml (the video graph) into a temporary root for end-to-end tests.

Relative demo paths become absolute repository paths (model, PCA); every output location moves
under the temporary root, so tests never write into the repository.
"""
from __future__ import annotations

import os

from tests.graph.helpers import embedder_cache

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def render_graph_config(tmp_root: str, project: str = "video-iab-local") -> str:
    text = open(os.path.join(REPO, "klio-job.yaml"), encoding="utf-8").read()
    text = text.replace("demo-output/", f"{tmp_root}/out/")
    text = text.replace("demo/videos", f"{tmp_root}/videos")
    text = text.replace("demo/metadata", f"{tmp_root}/metadata")
    text = text.replace("demo/", f"{REPO}/demo/")
    text = text.replace("video-iab-local", project)
    # The embedder on OpenVINO from the tests' shared conversion cache: the streaming jobs start
    # without TensorFlow.
    cache = embedder_cache()
    assert "backend: keras-fp32}" in text, "klio-job.yaml's embedder line changed: update this test setup"
    text = text.replace("backend: keras-fp32}", f"backend: openvino-fp32, cache_dir: {cache}}}", 1)
    os.makedirs(tmp_root, exist_ok=True)
    path = os.path.join(tmp_root, "klio-job.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
