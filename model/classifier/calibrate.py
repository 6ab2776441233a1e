"""Calibration: per-category thresholds that meet a target precision on a validation split.

For every class, the lowest score threshold whose precision over the validation videos is
>= the target (metrics.per_class_thresholds: tie blocks kept together, variant "lowest
threshold"). A class with fewer than `min_positives` validation positives, or that never reaches
the target, is disabled (threshold null, enabled false, with the reason) and reported.
The result replaces {model_dir}/thresholds.json; the charts (per-category precision-recall
curves with the chosen thresholds, precision and coverage per category) go next to it as
calibration_pr_curves.png and calibration_categories.png, or into a plots directory.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from model.classifier import artifacts, metrics, plots
from model.classifier.serving import load_classifier
from model.classifier.evaluate import predict_files
from model.taxonomy import Category

PR_CURVES_PNG, CATEGORIES_PNG = "calibration_pr_curves.png", "calibration_categories.png"


def calibration_document(predictions: np.ndarray, labels: np.ndarray, categories: Sequence[Category],
                         target_precision: float, min_positives: int = 1,
                         data: Sequence[str] = ()) -> dict:
    """thresholds.json document for scores float[V, C] and labels [V, C] of a validation split."""
    if predictions.shape[1] != len(categories):
        raise ValueError(f"{predictions.shape[1]} score columns for {len(categories)} categories")
    result = metrics.per_class_thresholds(predictions, labels, target_precision, min_positives)
    document = artifacts.thresholds_document(
        categories, result.threshold, calibrated=True, target_precision=target_precision, data=data,
        details={"precision": result.precision, "recall": result.recall,
                 "emitted": result.emitted, "positives": result.positives},
        reasons=result.reason)
    document["min_positives"] = min_positives
    document["validation_videos"] = int(predictions.shape[0])
    point = metrics.coverage_with_thresholds(predictions, labels, result.threshold, target_precision)
    document["validation"] = point.to_dict()
    return document


def write_calibration_plots(predictions: np.ndarray, labels: np.ndarray, document: dict,
                            categories: Sequence[Category], out_dir: str) -> list[str]:
    """Per-category PR curves with the chosen thresholds marked, and precision / coverage per
    category, as PNG files in out_dir (local or gs://); returns their paths."""
    thresholds = np.array([np.inf if row["threshold"] is None else row["threshold"]
                           for row in document["categories"]])
    target = document["target_precision"]
    paths = [artifacts.join(out_dir, PR_CURVES_PNG), artifacts.join(out_dir, CATEGORIES_PNG)]
    plots.pr_curves(predictions, labels, [c.name for c in categories], thresholds, target, paths[0],
                    "calibration split")
    plots.category_bars(document["categories"], target, paths[1],
                        f"at the calibrated thresholds (target precision {target:.2f}); "
                        "in brackets: positives")
    return paths


def calibrate_model_dir(model_dir: str, patterns: Sequence[str], target_precision: float = 0.8,
                        min_positives: int = 1, plots_dir: str | None = None,
                        with_plots: bool = True) -> dict:
    """Calibrate a model directory on TFRecords and write its thresholds.json; returns a report
    {enabled, disabled: [{index, id, name, reason}], validation: operating point, path, plots}.
    with_plots: the charts of `write_calibration_plots` go to plots_dir (default: model_dir)."""
    classifier = load_classifier(model_dir)
    _, predictions, labels = predict_files(classifier, patterns)
    document = calibration_document(predictions, labels, classifier.categories, target_precision,
                                    min_positives, data=patterns)
    path = artifacts.join(model_dir, artifacts.THRESHOLDS_FILE)
    artifacts.write_json(path, document)
    disabled = [{k: row[k] for k in ("index", "id", "name", "reason")}
                for row in document["categories"] if not row["enabled"]]
    report = {"thresholds": path, "target_precision": target_precision,
              "enabled": document["enabled"], "disabled": disabled,
              "validation": document["validation"]}
    if with_plots:
        report["plots"] = write_calibration_plots(predictions, labels, document, classifier.categories,
                                                  plots_dir or model_dir)
    return report
