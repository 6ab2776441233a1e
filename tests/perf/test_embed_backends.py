"""Embedding backends: shapes, stability, conversion cache, thread setting and clear errors."""
import glob
import os

import numpy as np
import pytest

from model import openvino_cache
from model.embedding import backends as embed_backends, openvino_backend as embed_backends_openvino
from model.embedding.synthetic_frames import synthetic_frames
from model.embedding.quality import cosine_to_reference

FRAMES = synthetic_frames(9, seed=7)[0]


@pytest.mark.parametrize("name", embed_backends.BACKENDS)
def test_backend_shapes_and_stability(backends, name):
    embed = backends(name)
    for n in (0, 1, 9):  # 9 > max_batch 8: two chunks
        out = embed(FRAMES[:n])
        assert out.shape == (n, 2048) and out.dtype == np.float32
    first, again = embed(FRAMES), embed(FRAMES)
    np.testing.assert_array_equal(first, again)
    # The same frame gives (nearly) the same vector whatever batch it is in.
    np.testing.assert_allclose(embed(FRAMES[3:4])[0], first[3], rtol=1e-3, atol=1e-3 * np.abs(first[3]).max())
    assert np.isfinite(first).all() and np.abs(first).max() > 0
    info = embed.runtime
    assert info["backend"] == name and info["precision"] == name.rsplit("-", 1)[1] == embed.precision
    assert info["runtime"] in ("tensorflow", "openvino") and info["runtime_version"][0].isdigit()


def test_openvino_fp32_matches_keras(backends):
    """The conversion (with the [-1,1] scaling folded in) computes the Keras model."""
    cos = cosine_to_reference(backends("openvino-fp32")(FRAMES), backends("keras-fp32")(FRAMES))
    assert cos.min() > 0.9999


def test_reduced_precision_stays_close_on_seeded_weights(backends):
    """Loose bound only: on seeded weights the features amplify rounding (the quality guard in
    test_quality.py is the real check); this catches a broken conversion or calibration."""
    ref = backends("keras-fp32")(FRAMES)
    for name in ("keras-bf16", "openvino-bf16", "openvino-int8"):
        assert cosine_to_reference(backends(name)(FRAMES), ref).mean() > 0.9, name


def test_conversion_cache_hit_on_second_creation(inception, tmp_path):
    cache = str(tmp_path / "cache")
    first = embed_backends.create_backend("openvino-fp32", inception, cache, None)
    second = embed_backends.create_backend("openvino-fp32", inception, cache, None)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    np.testing.assert_array_equal(first(FRAMES[:2]), second(FRAMES[:2]))
    assert len(glob.glob(os.path.join(cache, "embed-openvino-fp32-*", "model.xml"))) == 1
    assert not glob.glob(os.path.join(cache, ".tmp*"))


def test_losing_a_conversion_race_keeps_the_winner(inception, tmp_path):
    """Two processes converting at once: the second rename finds the entry and discards its copy."""
    entry = tmp_path / "embed-openvino-fp32-race"
    entry.mkdir()
    (entry / "meta.json").write_text('{"who": "first"}')  # the other process renamed first
    openvino_cache.convert_into_cache(str(entry), lambda: embed_backends_openvino._convert("fp32", inception, None),
                                      {"who": "second"})
    assert (entry / "meta.json").read_text() == '{"who": "first"}'
    assert os.listdir(tmp_path) == ["embed-openvino-fp32-race"]  # our temporary copy is gone


def test_cache_key_covers_weights_backend_and_calibration(inception, calibration):
    parts = ["openvino-int8", "v"]
    key = embed_backends_openvino._cache_key(inception, calibration, parts)
    assert key == embed_backends_openvino._cache_key(inception, calibration.copy(), parts)
    assert key != embed_backends_openvino._cache_key(inception, calibration[:-1], parts)
    assert key != embed_backends_openvino._cache_key(inception, calibration, ["openvino-bf16", "v"])
    other = embed_backends_openvino.weights_digest(inception)
    w = inception.layers[1].get_weights()
    try:
        inception.layers[1].set_weights([w[0] + 1e-3, *w[1:]])
        assert embed_backends_openvino.weights_digest(inception) != other
        assert embed_backends_openvino._cache_key(inception, calibration, parts) != key
    finally:
        inception.layers[1].set_weights(w)


def test_int8_without_calibration_is_a_clear_error(inception, tmp_path):
    for calib in (None, np.zeros((0, 299, 299, 3), np.uint8)):
        with pytest.raises(ValueError, match="needs calibration_frames"):
            embed_backends.create_backend("openvino-int8", inception, str(tmp_path), calib)
    with pytest.raises(ValueError, match="calibration_frames must be uint8"):
        embed_backends.create_backend("openvino-int8", inception, str(tmp_path), np.zeros((4, 224, 224, 3), np.uint8))
    assert not os.listdir(tmp_path)  # nothing converted or written


def test_bad_names_and_frames_are_clear_errors(backends):
    with pytest.raises(ValueError, match="unknown embedding backend 'openvino-fp8'"):
        embed_backends.backend_info("openvino-fp8")
    with pytest.raises(ValueError, match=r"uint8\[N,299,299,3\]"):
        backends("openvino-fp32")(FRAMES.astype(np.float32))


def test_thread_count_from_argument_or_environment(monkeypatch, inception, cache_dir, calibration):
    monkeypatch.setenv(embed_backends.THREADS_ENV, "1")
    assert embed_backends.inference_threads() == 1
    assert embed_backends.inference_threads(2) == 2
    one = embed_backends.create_backend("openvino-bf16", inception, cache_dir, None)
    assert one.runtime["threads"] == 1
    assert embed_backends_openvino.compile_config("bf16", 1)["INFERENCE_NUM_THREADS"] == 1
    monkeypatch.setenv(embed_backends.THREADS_ENV, "two")
    with pytest.raises(ValueError, match="VIDEO_IAB_EMBED_THREADS='two'"):
        embed_backends.inference_threads()
    with pytest.raises(ValueError, match=">= 1"):
        embed_backends.inference_threads(0)


def test_openvino_and_nncf_telemetry_cannot_load(backends):
    """Both would send usage events out of the machine when no consent file exists."""
    import sys

    backends("openvino-int8")
    assert sys.modules.get("openvino_telemetry") is None
    from nncf.telemetry import wrapper
    from openvino.tools.ovc import telemetry_utils

    assert telemetry_utils.tm.__name__.endswith("telemetry_stub")
    assert type(wrapper.telemetry).__name__ == "MagicMock"  # NNCF's own no-op stub


def test_warm_cache_with_a_source_key_never_builds_the_keras_model(inception, tmp_path):
    from model.embedding import backends as embed_backends

    builds = []

    def build():
        builds.append(1)
        return inception

    frames = np.random.default_rng(3).integers(0, 256, (3, 299, 299, 3), dtype=np.uint8)
    cold = embed_backends.create_backend("openvino-fp32", build, str(tmp_path), None, source_key="seeded:test")
    warm = embed_backends.create_backend("openvino-fp32", build, str(tmp_path), None, source_key="seeded:test")
    assert builds == [1] and not cold.cache_hit and warm.cache_hit
    np.testing.assert_array_equal(warm(frames), cold(frames))
    other = embed_backends.create_backend("openvino-fp32", build, str(tmp_path), None, source_key="seeded:other")
    assert builds == [1, 1] and not other.cache_hit  # another source key is another entry


def test_weights_source_key_names_the_weights_exactly(tmp_path):
    from model.embedding.config import EmbedderConfig
    from model.embedding.inception import weights_source_key

    assert weights_source_key(EmbedderConfig(weights="seeded", seed=3)) != \
        weights_source_key(EmbedderConfig(weights="seeded", seed=4))
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"one")
    first = weights_source_key(EmbedderConfig(weights=str(path)))
    path.write_bytes(b"two")
    assert first.startswith("sha256:") and weights_source_key(EmbedderConfig(weights=str(path))) != first
    assert weights_source_key(EmbedderConfig(weights=str(tmp_path / "missing.h5"))) is None
