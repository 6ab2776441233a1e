"""NeXtVLAD layer and model: parameter counts, an independent numpy re-derivation, masking."""
import dataclasses

import numpy as np
import pytest

from model.classifier.config import MetadataConfig, ModelConfig, StreamConfig, builtin_config_path, load_config
from model.classifier.nextvlad import NeXtVLAD, ContextGating, build_model, count_params

EPS = 1e-3


def small_config(**changes) -> ModelConfig:
    base = ModelConfig(name="small", num_classes=5, rgb=StreamConfig(6, 4, 2, 2), max_frames=7,
                       dropout=0.5, hidden_size=8, gating_reduction=2)
    return dataclasses.replace(base, **changes)


def test_paper_best_config_has_exactly_88_889_378_trainable_parameters():
    config = load_config(builtin_config_path("yt8m-nextvlad-best.yaml"))
    model = build_model(config, seed=0)
    assert count_params(model) == {"trainable": 88_889_378, "non_trainable": 80_896,
                                   "total": 88_970_274}
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert shapes["video_vlad"] == (None, 32768) and shapes["audio_vlad"] == (None, 4096)
    assert shapes["concat"] == (None, 36864) and shapes["logistic"] == (None, 3862)


def _bn(x, gamma, beta, mean, var):
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def numpy_nextvlad(layer: NeXtVLAD, x: np.ndarray, num_frames: np.ndarray, training: bool):
    """The paper's equations (5, 6 with BN instead of the bias, 8, 18) written with einsum."""
    w = {v.path.split("/", 1)[1]: v.numpy().astype(np.float64) for v in layer.weights}
    B, T, _ = x.shape
    G, K, d = layer.groups, layer.cluster_size, layer.group_size
    mask = (np.arange(T)[None, :] < num_frames[:, None]).astype(np.float64)
    xe = np.einsum("btn,nm->btm", x, w["expand/kernel"]) + w["expand/bias"]
    alpha_g = 1 / (1 + np.exp(-(np.einsum("btm,mg->btg", xe, w["attention/kernel"])
                                + w["attention/bias"]))) * mask[:, :, None]
    logits = np.einsum("btm,mj->btj", xe, w["cluster_weights"]).reshape(B * T, G * K)
    if training:  # batch statistics over every row, padded frames included (as the reference)
        mean, var = logits.mean(0), logits.var(0)
    else:
        mean, var = w["cluster_bn/moving_mean"], w["cluster_bn/moving_variance"]
    logits = _bn(logits, w["cluster_bn/gamma"], w["cluster_bn/beta"], mean, var).reshape(B, T, G, K)
    alpha_gk = np.exp(logits - logits.max(-1, keepdims=True))
    alpha_gk /= alpha_gk.sum(-1, keepdims=True)
    x_tilde = xe.reshape(B, T, G, d)
    anchors = w["cluster_weights2"][0]                                        # c: (d, K)
    y = (np.einsum("btg,btgk,btgj->bjk", alpha_g, alpha_gk, x_tilde)
         - np.einsum("btg,btgk->bk", alpha_g, alpha_gk)[:, None, :] * anchors[None])
    y = y / np.sqrt(np.maximum((y ** 2).sum(axis=1, keepdims=True), 1e-12))  # intra-L2 over j
    flat = y.reshape(B, d * K)                                                # index j*K + k
    if training:
        mean, var = flat.mean(0), flat.var(0)
    else:
        mean, var = w["vlad_bn/moving_mean"], w["vlad_bn/moving_variance"]
    return _bn(flat, w["vlad_bn/gamma"], w["vlad_bn/beta"], mean, var)


def _randomise_bn(layer, rng):
    for bn in (layer.cluster_bn, layer.vlad_bn):
        n = bn.gamma.shape[0]
        bn.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                        rng.uniform(0.5, 2.0, n)])


@pytest.mark.parametrize("training", [False, True])
def test_layer_matches_numpy_rederivation(training):
    rng = np.random.default_rng(0)
    layer = NeXtVLAD(feature_size=6, cluster_size=4, groups=2, expansion=2, seed=3)
    x = rng.normal(size=(3, 5, 6)).astype(np.float32)
    num_frames = np.array([5, 2, 3], dtype=np.int32)
    layer([x, num_frames])
    _randomise_bn(layer, rng)
    expected = numpy_nextvlad(layer, x.astype(np.float64), num_frames, training)
    got = np.asarray(layer([x, num_frames], training=training))
    assert got.shape == (3, 6 * 2 // 2 * 4)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_context_gating_matches_numpy():
    rng = np.random.default_rng(1)
    gating = ContextGating(reduction=2, seed=0)
    h = rng.normal(size=(4, 6)).astype(np.float32)
    gating(h)
    n = 3
    gating.gating_bn.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n),
                                  rng.normal(0, 0.3, n), rng.uniform(0.5, 2.0, n)])
    w1, w2 = gating.squeeze.kernel.numpy(), gating.excite.kernel.numpy()
    gamma, beta, mean, var = [v.numpy() for v in gating.gating_bn.weights]
    gates = 1 / (1 + np.exp(-(np.maximum(_bn(h @ w1, gamma, beta, mean, var), 0) @ w2)))
    np.testing.assert_allclose(np.asarray(gating(h, training=False)), h * gates, rtol=1e-5,
                               atol=1e-6)


def test_padded_frames_change_nothing_in_inference():
    config = small_config()
    model = build_model(config, seed=1)
    rng = np.random.default_rng(2)
    counts = np.array([7, 3, 1, 0], dtype=np.int32)
    frames = rng.normal(size=(4, 7, 6)).astype(np.float32)
    for i, n in enumerate(counts):
        frames[i, n:] = 0.0
    garbage = frames.copy()
    for i, n in enumerate(counts):
        garbage[i, n:] = rng.normal(0, 5, size=(7 - n, 6))
    clean = np.asarray(model({"rgb": frames, "num_frames": counts}, training=False))
    noisy = np.asarray(model({"rgb": garbage, "num_frames": counts}, training=False))
    np.testing.assert_allclose(noisy, clean, rtol=1e-5, atol=1e-6)
    # and a video's output does not depend on the other videos of its batch
    alone = np.asarray(model({"rgb": garbage[1:2], "num_frames": counts[1:2]}, training=False))
    np.testing.assert_allclose(alone, clean[1:2], rtol=1e-5, atol=1e-6)
    # the valid frames do matter
    changed = frames.copy()
    changed[1, 0] += 1.0
    moved = np.asarray(model({"rgb": changed, "num_frames": counts}, training=False))
    assert np.max(np.abs(moved[1] - clean[1])) > 1e-4


def test_metadata_branch_off_changes_nothing():
    plain = build_model(small_config(), seed=5)
    off = build_model(small_config(metadata=MetadataConfig()), seed=5)  # configured, nothing on
    assert [w.path for w in off.weights] == [w.path for w in plain.weights]
    assert "metadata" not in off.input and count_params(off) == count_params(plain)
    rng = np.random.default_rng(0)
    inputs = {"rgb": rng.normal(size=(2, 7, 6)).astype(np.float32),
              "num_frames": np.array([7, 4], dtype=np.int32)}
    np.testing.assert_array_equal(np.asarray(off(inputs, training=False)),
                                  np.asarray(plain(inputs, training=False)))
    meta = MetadataConfig(categories=("a", "b"), languages=("en",), duration=True, channel_buckets=4)
    on = build_model(small_config(metadata=meta), seed=5)
    width = 3 + 2 + 2 + 4
    assert meta.width == width
    assert count_params(on)["trainable"] - count_params(plain)["trainable"] == width * 8


def test_layer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible by groups"):
        NeXtVLAD(feature_size=5, cluster_size=4, groups=3, expansion=1)
    layer = NeXtVLAD(feature_size=6, cluster_size=4, groups=2, expansion=2)
    with pytest.raises(ValueError, match="feature_size=6"):
        layer([np.zeros((1, 3, 5), np.float32), np.array([3])])
