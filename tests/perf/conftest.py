"""Fixtures for the embedding-backend tests: one seeded Inception-v3 and sample frames per session."""
import pytest

SEED = 1234


@pytest.fixture(scope="session")
def inception():
    """The project's seeded Inception-v3 (no ImageNet weights here; BatchNorm re-estimated)."""
    from model.embedding.config import EmbedderConfig
    from model.embedding.inception import build_inception
    from transforms.calibration import scene_frames

    config = EmbedderConfig(weights="seeded", seed=SEED)
    return build_inception(config, scene_frames(SEED, config.calibration_frames))


@pytest.fixture(scope="session")
def calibration():
    """uint8[32,299,299,3] sample frames for int8 calibration."""
    from model.embedding.synthetic_frames import synthetic_frames

    return synthetic_frames(32, seed=100)[0]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("embed-cache"))


@pytest.fixture(scope="session")
def backends(inception, calibration, cache_dir):
    """get(name) -> Embedder, each backend created once per session (max_batch 8: chunking is used)."""
    from model.embedding import backends as embed_backends

    made = {}

    def get(name):
        if name not in made:
            made[name] = embed_backends.create_backend(name, inception, cache_dir, calibration, max_batch=8)
        return made[name]

    return get
