"""PCA + quantisation exactly as YouTube-8M (YouTube-8M's dequantisation constants)."""
import numpy as np
import pytest

from model.features.pca import (PCAParams, apply_pca, dequantize, encode_frames, fit_pca, load_pca,
                       quantize)
from transforms.features_io import write_pca


def test_dequantize_reference_values():
    got = dequantize(np.array([0, 128, 255], np.uint8), dtype=np.float64)
    np.testing.assert_array_equal(np.round(got, 10), [-1.9921875, 0.0156556373, 2.0078125])


def test_quantize_reference_values():
    q = quantize(np.array([-3, -2, -1, 0, 0.5, 1, 2, 3], np.float32))
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 0, 64, 128, 159, 191, 255, 255]
    # The reference's round-trip list mixes float64 (q=128 -> 0.01565564, as in Q1's first line)
    # and TF float32 evaluation (q=64,159,191 -> ...587, ...024, ...099; float64 gives ...593,
    # ...015, ...093). No single arithmetic gives all eight at 8 decimals, so: exact integers,
    # and every dequantised value within one float32 ulp (1.2e-7 here) of the listed number.
    back = dequantize(q, dtype=np.float64)
    reference = [-1.9921875, -1.9921875, -0.98826587, 0.01565564, 0.50193024, 1.00389099,
                 2.0078125, 2.0078125]
    np.testing.assert_allclose(back, reference, rtol=0, atol=1.2e-7)
    exact = {0: -1.9921875, 128: 0.01565564, 255: 2.0078125}  # the values both agree on
    for value, expected in exact.items():
        assert round(float(dequantize(np.uint8(value), dtype=np.float64)), 8) == expected


def test_round_trip_error_bound_and_half_to_even():
    x = np.linspace(-2, 2, 100_001, dtype=np.float32)
    err = np.abs(dequantize(quantize(x)) - x).max()
    assert 0.0155 < err < 0.0158  # "about 0.0157" for inputs inside [-2, 2]
    # the same rounding as YT8M's int(round(f)) (Python 3: half to even) on each value
    f = np.clip(x, -2, 2)
    expected = [int(round(v)) for v in ((f + np.float32(2)) * np.float32(255 / 4)).tolist()]
    assert quantize(x).tolist() == expected


def test_fit_apply_whitens_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(64, 64))
    data = (rng.normal(size=(2000, 64)) * np.linspace(5, 0.1, 64)) @ basis + 3.0
    params = fit_pca(data, dims=16)
    assert params.eigenvecs.shape == (64, 16) and params.eigenvals.shape == (16,)
    assert np.all(np.diff(params.eigenvals) <= 0)
    white = apply_pca(params, data)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(white.std(axis=0, ddof=1), 1, rtol=1e-3)
    # formula check against an independent computation
    manual = ((data[:5] - params.mean) @ params.eigenvecs) / np.sqrt(params.eigenvals + 1e-4)
    np.testing.assert_allclose(apply_pca(params, data[:5]), manual, rtol=1e-4, atol=1e-4)
    path = str(tmp_path / "pca.npz")
    write_pca(path, params)
    loaded = load_pca(path)
    for name in ("mean", "eigenvecs", "eigenvals"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(params, name))
    assert loaded.num_samples == 2000
    stored = encode_frames(loaded, data[:3])
    assert stored.dtype == np.uint8 and stored.shape == (3, 16)
    assert encode_frames(None, data[:3]).dtype == np.float16


def test_fit_needs_enough_samples():
    with pytest.raises(ValueError, match="more samples"):
        fit_pca(np.zeros((10, 32)), dims=16)
    with pytest.raises(ValueError):
        apply_pca(PCAParams(np.zeros(4, np.float32), np.eye(4, 2, dtype=np.float32),
                            np.ones(2, np.float32)), np.zeros((3, 5)))
