"""Quality guard for reduced-precision embedding backends. Pure numpy.

A freshly initialised network is chaotic, so cosine against fp32 on random weights says little
about what reduced precision costs. The guard instead trains the same small classifier on each
backend's features of a synthetic labelled frame task (model.embedding.synthetic_frames) and compares its
metrics, computed by the project's model.classifier.metrics, with fp32's:
  - GAP@20 (YouTube-8M's global average precision over each example's top 20 scores);
  - coverage at 80% precision (lowest-threshold variant): the share of examples that get at
    least one label at the lowest global threshold whose emitted labels are >= 80% precise.
The classifier is a frame-level multi-label logistic regression on standardised features (a
stand-in for NeXtVLAD, which needs videos of many frames and minutes of training per backend),
trained by a fixed number of full-batch gradient steps from zero, so identical features give
identical metrics. `cosine_to_reference` is the check meant for real weights, where bf16/int8
features should stay very close to fp32's.
"""
from __future__ import annotations

import numpy as np


def train_linear_probe(features: np.ndarray, labels: np.ndarray, steps: int = 300, lr: float = 0.5,
                       l2: float = 1e-3):
    """Multi-label logistic regression.

    Args:
      features: float32[N,D] training features.
      labels: float32[N,C] in {0,1}.
      steps, lr, l2: full-batch gradient steps, step size, L2 weight penalty.

    Returns:
      predict: float32[M,D] -> float32[M,C] probabilities.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = (x - mean) / std
    n, d = xs.shape
    w = np.zeros((d, y.shape[1]))
    b = np.zeros(y.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xs @ w + b)))
        g = p - y
        w -= lr * (xs.T @ g / n + l2 * w) / np.sqrt(d)
        b -= lr * g.mean(0)

    def predict(test_features: np.ndarray) -> np.ndarray:
        z = ((np.asarray(test_features, np.float64) - mean) / std) @ w + b
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    return predict


def task_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """{"gap@20", "coverage@80P"} as fractions, from the project's model.classifier.metrics.

    Args:
      scores: float[N,C] probabilities; labels: {0,1}[N,C].
    """
    from model.classifier import metrics

    return {"gap@20": metrics.gap(scores, labels, top_k=20),
            "coverage@80P": metrics.coverage_at_precision(scores, labels, target=0.8).coverage}


def probe_metrics(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict:
    """task_metrics of a linear probe trained on (train_x, train_y) and scored on test_x.

    Args:
      train_x: float32[N,2048] features; train_y: {0,1}[N,C]; test_x: float32[M,2048]; test_y: {0,1}[M,C].
    """
    return task_metrics(train_linear_probe(train_x, train_y)(test_x), test_y)


def paired_drop(reference_scores: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                resamples: int = 200, seed: int = 0, metric_fn=None) -> dict:
    """How far each metric falls below the reference's, with its sampling noise.

    The same bootstrap resamples of the test examples score both, so the noise is that of the
    difference. Coverage at a precision target jumps with the threshold at which precision
    crosses it: on a few hundred examples its standard deviation is several points, where
    GAP@20's is a few tenths, so a 1-point margin on coverage is only testable as "not
    significantly worse than 1 point" at that size.

    Args:
      reference_scores, scores: float[N,C] (fp32's probe, the backend's probe); labels: {0,1}[N,C].
      metric_fn: (scores, labels) -> {metric: value}; default `task_metrics`.

    Returns:
      {metric: {"drop": reference - ours on all examples, "sd": bootstrap sd of the drop}}.
    """
    measure = metric_fn or task_metrics
    rng = np.random.default_rng(seed)
    ref, ours = measure(reference_scores, labels), measure(scores, labels)
    samples = {k: [] for k in ref}
    for _ in range(resamples):
        i = rng.integers(0, len(labels), len(labels))
        r, o = measure(reference_scores[i], labels[i]), measure(scores[i], labels[i])
        for k in samples:
            samples[k].append(r[k] - o[k])
    return {k: {"drop": ref[k] - ours[k], "sd": float(np.std(samples[k]))} for k in ref}


def cosine_to_reference(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity, float32[N], of float[N,D] features against float[N,D] reference."""
    a = np.asarray(features, np.float64)
    b = np.asarray(reference, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (np.sum(a * b, axis=1) / np.maximum(den, 1e-12)).astype(np.float32)
