"""Fixtures for the video-features tests: generated videos (PyAV) and one seeded Inception."""
import dataclasses
import os

import pytest

from transforms import synthetic_video as sv

SEED = 1234


@pytest.fixture(scope="session")
def video_factory(tmp_path_factory):
    """make(name, **spec fields) -> GeneratedVideo, each written once per session."""
    root = tmp_path_factory.mktemp("videos")
    made = {}

    def make(name: str, **fields) -> sv.GeneratedVideo:
        if name not in made:
            spec = sv.VideoSpec(**fields)
            made[name] = sv.write_video(os.path.join(root, f"{name}.{spec.extension}"), spec)
        assert dataclasses.asdict(made[name].spec) == dataclasses.asdict(sv.VideoSpec(**fields))
        return made[name]

    return make


@pytest.fixture(scope="session")
def embedder_config():
    from model.embedding.config import EmbedderConfig

    # ImageNet weights cannot be downloaded here: tests use the explicit seeded option.
    return EmbedderConfig(weights="seeded", seed=SEED, batch_size=16, batch_frames=64)


@pytest.fixture(scope="session")
def embedder(embedder_config):
    """The seeded Inception-v3, built once per session (shared with RunInference in-process)."""
    from transforms.calibration import embedder_for

    return embedder_for(embedder_config)
