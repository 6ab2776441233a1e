"""The video jobs' typed settings from the root klio-job.yaml, and clear errors for bad ones."""
import os

import pytest

from jobgraph.config import ConfigError, load_graph
from transforms.job_settings import features_config

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "klio-job.yaml")


def features(*overrides):
    return features_config(load_graph(CONFIG, overrides=list(overrides)).job("video-features"))


def test_defaults_and_overrides():
    assert features().decode_ahead == 0
    config = features("video-features:job_config.decode_ahead=2",
                      "video-features:job_config.embedder.backend=openvino-int8",
                      "video-features:job_config.embedder.cache_dir=.cache/embed")
    assert config.decode_ahead == 2 and config.embedder.backend == "openvino-int8"
    assert os.path.isabs(config.embedder.cache_dir)  # relative to the config file


@pytest.mark.parametrize("override, key", [
    ("video-features:job_config.decode_ahead=-1", "job_config.decode_ahead"),
    ("video-features:job_config.decode_ahead=two", "job_config.decode_ahead"),
    ("video-features:job_config.decode.speed=9", "job_config.decode.speed"),
])
def test_bad_settings_name_the_key(override, key):
    with pytest.raises(ConfigError) as error:
        features(override)
    assert key in str(error.value) and "klio-job.yaml" in str(error.value)
