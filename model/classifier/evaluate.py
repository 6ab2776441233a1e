"""Evaluation: metrics JSON, the precision-coverage curve as CSV and PNG, per-category
precision-recall curves as PNG (model/classifier/plots.py).

Either a model directory scored on TFRecords, or precomputed predictions and labels (any
model's output, e.g. the textual model's) scored the same way.
"""
from __future__ import annotations

import csv
import os
from typing import Sequence

import numpy as np

from model.classifier import artifacts, data, metrics, plots
from model.classifier.serving import Classifier, load_classifier

METRICS_FILE, CURVE_CSV, CURVE_PNG = "metrics.json", "precision_coverage.csv", "precision_coverage.png"
PR_CURVES_PNG = "pr_curves.png"


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


def write_curve_csv(curve: metrics.PrecisionCoverageCurve, path: str, max_points: int = 2000) -> None:
    """threshold, precision, coverage, recall, labels_emitted (at most max_points rows, evenly
    spread over the tie blocks, first and last included)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["threshold", "precision", "coverage", "recall", "labels_emitted"])
        for i in plots.spread(len(curve.threshold), max_points):
            writer.writerow([f"{curve.threshold[i]:.6g}", f"{curve.precision[i]:.6f}",
                             f"{curve.coverage[i]:.6f}", f"{curve.recall[i]:.6f}", int(curve.emitted[i])])


def _write_plots(predictions: np.ndarray, labels: np.ndarray, out_dir: str, *, thresholds,
                 names: Sequence[str] | None, target_precision: float, title: str) -> None:
    """The per-category PR curves. Without the model's thresholds, each category is marked at
    the threshold calibration would choose on this data."""
    if thresholds is None:
        thresholds = metrics.per_class_thresholds(predictions, labels, target_precision).threshold
    names = names or [f"class {i}" for i in range(predictions.shape[1])]
    plots.pr_curves(predictions, labels, names, thresholds, target_precision,
                    os.path.join(out_dir, PR_CURVES_PNG), title)


def evaluate_arrays(predictions: np.ndarray, labels: np.ndarray, out_dir: str | None = None, *,
                    top_k: int = 20, target_precision: float = 0.8, thresholds=None,
                    title: str = "", names: Sequence[str] | None = None, with_plots: bool = True) -> dict:
    """Metrics dict; with out_dir also writes metrics.json, the curve CSV and (with_plots) the
    PNG charts: the global precision-coverage curve and per-category PR curves.

    predictions float[V, C], labels [V, C]; thresholds float[C] (+inf = disabled) or None;
    names: C category names for the charts (default "class i")."""
    result = metrics.evaluate_predictions(predictions, labels, top_k=top_k,
                                          target_precision=target_precision, thresholds=thresholds)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        curve = metrics.precision_coverage_curve(predictions, labels)
        write_curve_csv(curve, os.path.join(out_dir, CURVE_CSV))
        result["files"] = {"metrics": METRICS_FILE, "curve_csv": CURVE_CSV}
        if with_plots:
            point = metrics.coverage_at_precision(predictions, labels, target_precision)
            plots.precision_coverage(curve, point, os.path.join(out_dir, CURVE_PNG), title)
            _write_plots(predictions, labels, out_dir, thresholds=thresholds, names=names,
                         target_precision=target_precision, title=title)
            result["files"].update(curve_png=CURVE_PNG, pr_curves_png=PR_CURVES_PNG)
        artifacts.write_json(os.path.join(out_dir, METRICS_FILE), result)
    return result


def evaluate_model_dir(model_dir: str, patterns: Sequence[str], out_dir: str | None = None, *,
                       top_k: int = 20, target_precision: float = 0.8, with_plots: bool = True) -> dict:
    """Score a model directory on TFRecords; uses its thresholds.json when calibrated."""
    classifier = load_classifier(model_dir)
    _, predictions, labels = predict_files(classifier, patterns)
    thresholds = classifier.thresholds if classifier.thresholds_info.get("calibrated") else None
    result = evaluate_arrays(predictions, labels, out_dir, top_k=top_k,
                             target_precision=target_precision, thresholds=thresholds,
                             title=classifier.config.name, with_plots=with_plots,
                             names=[c.name for c in classifier.categories])
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
