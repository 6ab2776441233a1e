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
    """The seeded Inception-v3 on Keras (the reference), built once per session."""
    from transforms.calibration import embedder_for

    return embedder_for(embedder_config)


@pytest.fixture(scope="session")
def pipeline_embedder_config(embedder_config):
    """The same seeded weights on OpenVINO fp32, converted once into the tests' shared cache:
    every pipeline loads its own model (RunInference's sharing is per pipeline), which takes
    about a second from the cache where building the Keras model takes ten or more."""
    return dataclasses.replace(embedder_config, backend="openvino-fp32",
                               cache_dir=os.path.join(os.environ["VIDEO_IAB_CACHE"], "embedder"))


@pytest.fixture(scope="session")
def pipeline_embedder(pipeline_embedder_config):
    """An Embedder loaded as the pipelines' RunInference steps load theirs."""
    from transforms.calibration import embedder_for

    return embedder_for(pipeline_embedder_config)
