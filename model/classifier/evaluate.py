"""Evaluation: metrics JSON, the precision-coverage curve as CSV and PNG.

Either a model directory scored on TFRecords, or precomputed predictions and labels (any
model's output, e.g. the textual model's) scored the same way.
"""
from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

from model.classifier import artifacts, data, metrics
from model.classifier.serving import Classifier, load_classifier

METRICS_FILE, CURVE_CSV, CURVE_PNG = "metrics.json", "precision_coverage.csv", "precision_coverage.png"


def predict_files(classifier: Classifier, patterns: Sequence[str], batch_size: int = 256
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids str[V], predictions float32[V, C], labels float32[V, C]) for TFRecord patterns."""
    ids, predictions, labels = [], [], []
    for batch in data.make_dataset(patterns, classifier.config, batch_size):
        batch = {k: v.numpy() for k, v in batch.items()}
        predictions.append(classifier.predict_inputs(batch))
        labels.append(batch[data.LABELS])
        ids.extend(x.decode("utf-8") for x in batch[data.VIDEO_ID])
    if not predictions:
        raise ValueError(f"no examples in {list(patterns)}")
    return np.asarray(ids), np.concatenate(predictions), np.concatenate(labels)


def _downsample(curve: metrics.PrecisionCoverageCurve, max_points: int) -> np.ndarray:
    n = len(curve.threshold)
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def write_curve_csv(curve: metrics.PrecisionCoverageCurve, path: str, max_points: int = 2000) -> None:
    """threshold, precision, coverage, recall, labels_emitted (at most max_points rows, evenly
    spread over the tie blocks, first and last included)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["threshold", "precision", "coverage", "recall", "labels_emitted"])
        for i in _downsample(curve, max_points):
            writer.writerow([f"{curve.threshold[i]:.6g}", f"{curve.precision[i]:.6f}",
                             f"{curve.coverage[i]:.6f}", f"{curve.recall[i]:.6f}", int(curve.emitted[i])])


def plot_curve(curve: metrics.PrecisionCoverageCurve, point: metrics.OperatingPoint, path: str,
               title: str = "") -> None:
    """Precision (y) against coverage (x), with the operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = _downsample(curve, 5000)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(curve.coverage[idx], curve.precision[idx], lw=1.5, label="global threshold")
    ax.axhline(point.target_precision, color="grey", ls="--", lw=1,
               label=f"target precision {point.target_precision:.2f}")
    if point.precision is not None:
        ax.plot([point.coverage], [point.precision], "o", color="C3",
                label=f"t*={point.threshold:.3g}: coverage {point.coverage:.3f}")
    ax.set_xlabel("coverage (videos with >= 1 label)")
    ax.set_ylabel("precision of emitted labels")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "precision-coverage")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate_arrays(predictions: np.ndarray, labels: np.ndarray, out_dir: str | None = None, *,
                    top_k: int = 20, target_precision: float = 0.8, thresholds=None,
                    title: str = "") -> dict:
    """Metrics dict; with out_dir also writes metrics.json, the curve CSV and the PNG plot."""
    result = metrics.evaluate_predictions(predictions, labels, top_k=top_k,
                                          target_precision=target_precision, thresholds=thresholds)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        curve = metrics.precision_coverage_curve(predictions, labels)
        point = metrics.coverage_at_precision(predictions, labels, target_precision)
        write_curve_csv(curve, os.path.join(out_dir, CURVE_CSV))
        plot_curve(curve, point, os.path.join(out_dir, CURVE_PNG), title)
        result["files"] = {"metrics": METRICS_FILE, "curve_csv": CURVE_CSV, "curve_png": CURVE_PNG}
        artifacts.write_json(os.path.join(out_dir, METRICS_FILE), result)
    return result


def evaluate_model_dir(model_dir: str, patterns: Sequence[str], out_dir: str | None = None, *,
                       top_k: int = 20, target_precision: float = 0.8) -> dict:
    """Score a model directory on TFRecords; uses its thresholds.json when calibrated."""
    classifier = load_classifier(model_dir)
    _, predictions, labels = predict_files(classifier, patterns)
    thresholds = classifier.thresholds if classifier.thresholds_info.get("calibrated") else None
    result = evaluate_arrays(predictions, labels, out_dir, top_k=top_k,
                             target_precision=target_precision, thresholds=thresholds,
                             title=classifier.config.name)
    result["model"] = classifier.config.name
    result["data"] = list(patterns)
    if out_dir is not None:
        artifacts.write_json(os.path.join(out_dir, METRICS_FILE), result)
    return result


def load_arrays(predictions_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """float[V, C] predictions and labels from .npy files, shapes checked."""
    predictions = np.load(predictions_path, allow_pickle=False)
    labels = np.load(labels_path, allow_pickle=False)
    if predictions.shape != labels.shape or predictions.ndim != 2:
        raise ValueError(f"{predictions_path} has shape {predictions.shape} and {labels_path} has "
                         f"{labels.shape}; expected the same [videos, classes] shape")
    return predictions, labels
