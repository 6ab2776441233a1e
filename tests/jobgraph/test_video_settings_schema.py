"""The video jobs' settings schema (transforms/job_settings.py, declared to jobgraph by run.py):
same keys and defaults as the dataclasses it builds, and the same results as before it existed."""
from __future__ import annotations

import dataclasses
import os

import pytest

from jobgraph.config import ConfigError, load_graph
from tests.jobgraph import toygraph
from transforms import job_settings

CONFIG = os.path.join(toygraph.REPO, "klio-job.yaml")


def _graph(*overrides: str):
    return load_graph(CONFIG, overrides=list(overrides))


def test_run_py_declares_the_settings_of_both_jobs():
    import run

    assert run.SETTINGS == {"video-features": job_settings.FeaturesSettings,
                            "video-iab": job_settings.ClassifySettings}


@pytest.mark.parametrize("section, model", [("decode", job_settings.DecodeSettings),
                                            ("embedder", job_settings.EmbedderSettings),
                                            ("audio", job_settings.AudioSettings)])
def test_sections_mirror_their_dataclasses(section, model):
    job = _graph("video-features:job_config.audio={}").job("video-features")
    built = getattr(job_settings.features_config(job), section)
    fields = {f.name: f.default for f in dataclasses.fields(type(built))}
    if section == "decode":  # set by the code: decoding hears audio when `audio:` is set
        assert fields.pop("audio") is False and "audio" not in model.model_fields
    assert list(model.model_fields) == list(fields)
    defaults = {name: field.default for name, field in model.model_fields.items()}
    assert defaults == fields


def test_features_config_uses_the_values_as_written_and_resolves_paths():
    job = _graph("video-features:job_config.decode={fps: 2, policy: uniform}",
                 "video-features:job_config.embedder={weights: w.h5, cache_dir: cache}",
                 "video-features:job_config.pca=null").job("video-features")
    config = job_settings.features_config(job)
    assert config.decode.fps == 2 and isinstance(config.decode.fps, int) and config.decode.policy == "uniform"
    assert config.embedder.weights == os.path.join(toygraph.REPO, "w.h5")
    assert config.embedder.cache_dir == os.path.join(toygraph.REPO, "cache")
    assert config.embedder.seed is None and config.pca_path is None


def test_audio_is_off_unless_configured_and_its_paths_resolve():
    config = job_settings.features_config(_graph("video-features:job_config.audio=null").job("video-features"))
    assert config.audio is None and config.decoding.audio is False
    job = _graph("video-features:job_config.audio={weights: vggish.weights.h5, seed: null, "
                 "pca_params: pca.npz, backend: keras-fp32}").job("video-features")
    config = job_settings.features_config(job)
    assert config.audio.weights == os.path.join(toygraph.REPO, "vggish.weights.h5")
    assert config.audio.pca_params == os.path.join(toygraph.REPO, "pca.npz")
    assert config.audio.backend == "keras-fp32" and config.decoding.audio is True


@pytest.mark.parametrize("value, message", [
    ("{backend: openvino-int4}", "job_config.audio.backend"),
    ("{calibration_windows: 100}", "job_config.audio.calibration_windows: expected an integer > 128"),
    ("{weights: seeded, seed: null}", "job_config.audio.seed"),
    ("{pca: x.npz}", "job_config.audio.pca: unknown key"),
])
def test_audio_settings_errors_name_the_key(value, message):
    with pytest.raises(ConfigError, match=message):  # checked as the config loads
        _graph(f"video-features:job_config.audio={value}")


def test_decode_audio_is_not_a_key():
    with pytest.raises(ConfigError, match="job_config.decode.audio: unknown key"):
        _graph("video-features:job_config.decode={audio: true}")


def test_classify_config_resolves_paths_and_checks_the_model_directory():
    config = job_settings.classify_config(_graph("video-iab:job_config.top_k=3").job("video-iab"))
    assert config.top_k == 3 and config.model_dir == os.path.join(toygraph.REPO, "demo", "model")
    assert config.metadata_location == os.path.join(toygraph.REPO, "demo", "metadata")
    assert config.textual_location is None
    job = _graph("video-iab:job_config.model_dir=no-such-model").job("video-iab")
    with pytest.raises(ConfigError, match="job video-iab: job_config.model_dir: expected a trained model"):
        job_settings.classify_config(job)


def test_model_dir_is_required():
    with pytest.raises(ConfigError) as err:
        _graph("video-iab:job_config.model_dir=null")
    assert str(err.value).endswith("job video-iab: job_config.model_dir: "
                                   "expected a model directory (local or gs://), got None")
