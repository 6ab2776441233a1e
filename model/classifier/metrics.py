"""Evaluation metrics in pure numpy (plus the stdlib `heapq`/`random` that Google's code uses).

Inputs everywhere: predictions float[V, C] (scores, higher = more likely) and labels [V, C]
(any value > 0 is a positive), V videos, C classes.

GAP@k, mAP, Hit@1 and PERR reproduce google/youtube-8m `eval_util.py` and
`average_precision_calculator.py` (calculate_gap over the whole matrix at once) exactly,
including their tie-breaking: each video's top-k come from `numpy.argpartition`, the
triplets are grouped by class, pushed through a heap, shuffled with `random.seed(0)` and
stable-sorted by score. The AP denominator is every positive in the full label matrix, so
positives outside a video's top-k count as misses.

Product metric (the one the platform tunes thresholds for): the precision-coverage curve and coverage at a
target precision p*. Variant implemented by default ("lowest threshold"): candidates are all
(video, class) pairs (or each video's top-k if `top_k` is given), pooled and sorted by score;
thresholds are evaluated at ends of tie blocks; t* = the lowest threshold whose emitted-label
precision is >= p*; coverage = fraction of videos with some score >= t*. `conservative=True`
selects variant (a): t* is the lowest threshold such that every threshold above it also meets
p*. Per-class thresholds (variant c, calibrated on a validation split = variant b) are scored by
`coverage_with_thresholds`.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import asdict, dataclass

import numpy as np


def _check(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if predictions.ndim != 2 or labels.ndim != 2:
        raise ValueError(f"predictions and labels must be 2-D [videos, classes], got shapes "
                         f"{predictions.shape} and {labels.shape}")
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    if predictions.shape[0] == 0 or predictions.shape[1] == 0:
        raise ValueError(f"need at least one video and one class, got shape {predictions.shape}")
    if not np.all(np.isfinite(predictions)):
        raise ValueError("predictions contain NaN or infinite values")
    return predictions, labels


def average_precision(predictions, actuals, total_positives: float | None = None,
                      n: int | None = None) -> float:
    """Google's AveragePrecisionCalculator.ap_at_n on an already-ordered list of entries.

    predictions, actuals: float[N] in the calculator's list order (the order matters only for
    ties: the list is shuffled with random.seed(0), then stable-sorted by score, descending).
    total_positives: AP denominator (default: positives among `actuals`).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    actuals = np.asarray(actuals, dtype=np.float64)
    if predictions.shape != actuals.shape or predictions.ndim != 1:
        raise ValueError(f"predictions {predictions.shape} and actuals {actuals.shape} must be "
                         f"1-D of the same length")
    if n is not None and (not isinstance(n, int) or n <= 0):
        raise ValueError(f"n must be None or a positive integer, got {n!r}")
    shuffled = random.Random(0).sample(range(len(predictions)), len(predictions))
    predictions, actuals = predictions[shuffled], actuals[shuffled]
    order = np.argsort(-predictions, kind="stable")
    numpos = float(np.sum(actuals > 0)) if total_positives is None else float(total_positives)
    if numpos == 0:
        return 0.0
    if n is not None:
        numpos = min(numpos, n)
        order = order[:n]
    hits = actuals[order] > 0
    ranks = np.flatnonzero(hits) + 1.0
    return float(np.sum(np.arange(1, len(ranks) + 1) / ranks) / numpos)


def _heap_order(predictions: np.ndarray, actuals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The list order of Google's calculator after pushing the entries one by one into a heap."""
    heap: list[tuple[float, float]] = []
    for entry in zip(predictions.tolist(), actuals.tolist()):
        heapq.heappush(heap, entry)
    if not heap:
        return np.zeros(0), np.zeros(0)
    preds, acts = zip(*heap)
    return np.asarray(preds, dtype=np.float64), np.asarray(acts, dtype=np.float64)


def top_k_by_class(predictions, labels, k: int = 20):
    """Each video's top-k (numpy.argpartition), grouped by class as eval_util.top_k_by_class.

    Returns (classes int[V*k'], scores float[V*k'], actuals float[V*k'], num_positives float[C]),
    entries sorted by class and, within a class, in video order; k' = min(k, C).
    """
    predictions, labels = _check(predictions, labels)
    if not isinstance(k, (int, np.integer)) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = min(int(k), predictions.shape[1])
    top = np.argpartition(predictions, -k, axis=1)[:, -k:]             # (V, k)
    videos = np.repeat(np.arange(predictions.shape[0]), k)
    classes = top.ravel()
    order = np.argsort(classes, kind="stable")
    videos, classes = videos[order], classes[order]
    scores = predictions[videos, classes].astype(np.float64)
    actuals = labels[videos, classes].astype(np.float64)
    num_positives = np.sum(labels, axis=0, dtype=np.float64)
    return classes, scores, actuals, num_positives


def gap(predictions, labels, top_k: int = 20) -> float:
    """Global average precision over each video's top_k predictions (eval_util.calculate_gap)."""
    _, scores, actuals, num_positives = top_k_by_class(predictions, labels, top_k)
    scores, actuals = _heap_order(scores, actuals)
    if len(scores) == 0:
        return 0.0
    return average_precision(scores, actuals, total_positives=float(np.sum(num_positives)))


def class_average_precisions(predictions, labels, top_k: int = 20) -> np.ndarray:
    """Per-class AP from the top_k triplets (MeanAveragePrecisionCalculator), float[C].

    Classes without positives get NaN (Google's HEAD drops them from the mean).
    """
    classes, scores, actuals, num_positives = top_k_by_class(predictions, labels, top_k)
    aps = np.full(len(num_positives), np.nan)
    bounds = np.searchsorted(classes, np.arange(len(num_positives) + 1))
    for c in range(len(num_positives)):
        if num_positives[c] <= 0:
            continue
        s, a = _heap_order(scores[bounds[c]:bounds[c + 1]], actuals[bounds[c]:bounds[c + 1]])
        aps[c] = average_precision(s, a, total_positives=num_positives[c]) if len(s) else 0.0
    return aps


def mean_average_precision(predictions, labels, top_k: int = 20) -> float:
    """Mean of the per-class APs over classes that have positives; 0.0 when none has any."""
    aps = class_average_precisions(predictions, labels, top_k)
    aps = aps[~np.isnan(aps)]
    return float(np.mean(aps)) if len(aps) else 0.0


def hit_at_one(predictions, labels) -> float:
    """Fraction of videos whose top-scoring class is a positive."""
    predictions, labels = _check(predictions, labels)
    top = np.argmax(predictions, axis=1)
    return float(np.mean(labels[np.arange(len(labels)), top] > 0))


def perr(predictions, labels) -> float:
    """Precision at equal recall rate (eval_util.calculate_precision_at_equal_recall_rate).

    A video with L positives scores the fraction of its top-L classes that are positive and have
    a prediction > 0; a video with no positives scores 0 (Google's `[-0:]` selects all classes).
    """
    predictions, labels = _check(predictions, labels)
    total = 0.0
    for row in range(predictions.shape[0]):
        num_labels = int(np.sum(labels[row]))
        top = np.argpartition(predictions[row], -num_labels)[-num_labels:]
        hits = np.sum(labels[row][top] * (predictions[row][top] > 0))
        total += float(hits) / top.size
    return total / predictions.shape[0]


def f1_scores(predictions, labels, thresholds) -> dict[str, float]:
    """Micro and macro precision / recall / F1 of the labels emitted at `thresholds`.

    thresholds: a scalar or float[C]; a class is emitted when score >= its threshold
    (use +inf to disable a class). Macro averages run over classes with positives.
    """
    predictions, labels = _check(predictions, labels)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (predictions.shape[1],))
    emitted = predictions >= thresholds[None, :]
    positive = labels > 0
    tp = np.sum(emitted & positive, axis=0).astype(np.float64)
    n_emitted = np.sum(emitted, axis=0).astype(np.float64)
    n_positive = np.sum(positive, axis=0).astype(np.float64)

    def prf(tp_, emitted_, positive_):
        precision = np.divide(tp_, emitted_, out=np.zeros_like(tp_), where=emitted_ > 0)
        recall = np.divide(tp_, positive_, out=np.zeros_like(tp_), where=positive_ > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp_), where=denom > 0)
        return precision, recall, f1

    micro = prf(np.sum(tp, keepdims=True), np.sum(n_emitted, keepdims=True),
                np.sum(n_positive, keepdims=True))
    macro = prf(tp, n_emitted, n_positive)
    has = n_positive > 0
    mean = (lambda x: float(np.mean(x[has])) if np.any(has) else 0.0)
    return {"micro_precision": float(micro[0][0]), "micro_recall": float(micro[1][0]),
            "micro_f1": float(micro[2][0]), "macro_precision": mean(macro[0]),
            "macro_recall": mean(macro[1]), "macro_f1": mean(macro[2])}


@dataclass(frozen=True)
class PrecisionCoverageCurve:
    """One point per tie block of the pooled candidate scores, thresholds descending.

    threshold float[P]; precision float[P]; coverage float[P] (fraction of videos with some
    candidate >= threshold); recall float[P] (over all positives of the label matrix);
    emitted int[P] (candidates >= threshold).
    """

    threshold: np.ndarray
    precision: np.ndarray
    coverage: np.ndarray
    recall: np.ndarray
    emitted: np.ndarray
    num_videos: int
    total_positives: int


def _candidates(predictions, labels, top_k):
    predictions, labels = _check(predictions, labels)
    if top_k is None:
        return predictions, labels > 0
    if not isinstance(top_k, (int, np.integer)) or top_k <= 0:
        raise ValueError(f"top_k must be None or a positive integer, got {top_k!r}")
    k = min(int(top_k), predictions.shape[1])
    top = np.argpartition(predictions, -k, axis=1)[:, -k:]
    masked = np.full(predictions.shape, -np.inf)
    rows = np.arange(predictions.shape[0])[:, None]
    masked[rows, top] = predictions[rows, top]
    return masked, labels > 0


def precision_coverage_curve(predictions, labels, top_k: int | None = None) -> PrecisionCoverageCurve:
    """The precision-coverage curve of one global threshold (see module docstring)."""
    scores, positive = _candidates(predictions, labels, top_k)
    total_positives = int(np.sum(positive))
    flat = scores.ravel()
    keep = np.isfinite(flat)
    flat, hits = flat[keep], positive.ravel()[keep]
    order = np.argsort(-flat, kind="stable")
    flat, hits = flat[order], hits[order]
    ends = np.flatnonzero(np.append(flat[1:] != flat[:-1], True)) if len(flat) else np.zeros(0, int)
    cum_tp = np.cumsum(hits)[ends].astype(np.float64)
    emitted = ends + 1
    threshold = flat[ends]
    video_max = np.sort(np.max(scores, axis=1))
    coverage = (len(video_max) - np.searchsorted(video_max, threshold, side="left")) / len(video_max)
    recall = cum_tp / total_positives if total_positives else np.zeros_like(cum_tp)
    return PrecisionCoverageCurve(threshold=threshold, precision=cum_tp / emitted, coverage=coverage,
                                  recall=recall, emitted=emitted, num_videos=len(video_max),
                                  total_positives=total_positives)


@dataclass(frozen=True)
class OperatingPoint:
    """Coverage at a target precision; threshold is +inf (and coverage 0) when unreachable."""

    target_precision: float | None
    threshold: float
    precision: float | None
    coverage: float
    labels_emitted: int
    recall: float
    variant: str

    def to_dict(self) -> dict:
        out = asdict(self)
        out["threshold"] = None if not np.isfinite(self.threshold) else float(self.threshold)
        return out


def coverage_at_precision(predictions, labels, target: float = 0.8, top_k: int | None = None,
                          conservative: bool = False) -> OperatingPoint:
    """Coverage@p*: the share of videos that get at least one label at precision >= target.

    t* = the lowest global threshold (tie-block ends) whose precision is >= target; with
    `conservative`, every higher threshold must meet the target too (variant a).
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target precision must be in (0, 1], got {target!r}")
    curve = precision_coverage_curve(predictions, labels, top_k)
    meets = curve.precision >= target
    if conservative:
        failing = np.flatnonzero(~meets)
        last = (failing[0] if len(failing) else len(meets)) - 1
    else:
        good = np.flatnonzero(meets)
        last = good[-1] if len(good) else -1
    variant = ("conservative" if conservative else "lowest-threshold") + \
        ("" if top_k is None else f", top-{top_k} candidates")
    if last < 0:
        return OperatingPoint(target, float("inf"), None, 0.0, 0, 0.0, variant)
    return OperatingPoint(target, float(curve.threshold[last]), float(curve.precision[last]),
                          float(curve.coverage[last]), int(curve.emitted[last]),
                          float(curve.recall[last]), variant)


def coverage_with_thresholds(predictions, labels, thresholds, target: float | None = None,
                             variant: str = "per-class thresholds") -> OperatingPoint:
    """Precision / coverage / recall of per-class thresholds float[C] (+inf = class disabled)."""
    predictions, labels = _check(predictions, labels)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (predictions.shape[1],))
    emitted = predictions >= thresholds[None, :]
    positive = labels > 0
    n_emitted = int(np.sum(emitted))
    tp = int(np.sum(emitted & positive))
    total = int(np.sum(positive))
    return OperatingPoint(
        target_precision=None if target is None else float(target),
        threshold=float("nan"), precision=(tp / n_emitted) if n_emitted else None,
        coverage=float(np.mean(np.any(emitted, axis=1))), labels_emitted=n_emitted,
        recall=(tp / total) if total else 0.0, variant=variant)


@dataclass(frozen=True)
class ClassThresholds:
    """Per-class operating thresholds, arrays of length C.

    threshold: lowest score meeting the target precision, +inf where unreachable (disabled);
    precision, recall: at that threshold on the calibration split (NaN where disabled);
    emitted: videos at or above the threshold; positives: positives of the class;
    reason: '' when enabled, else why the class is disabled.
    """

    threshold: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    emitted: np.ndarray
    positives: np.ndarray
    reason: tuple[str, ...]

    @property
    def enabled(self) -> np.ndarray:
        return np.isfinite(self.threshold)


def per_class_thresholds(predictions, labels, target: float = 0.8, min_positives: int = 1,
                         conservative: bool = False) -> ClassThresholds:
    """For every class, the lowest threshold whose precision on this split is >= target.

    Same rule as `coverage_at_precision`, applied to one class's scores over the videos.
    Classes with fewer than `min_positives` positives, or that never reach the target, are
    disabled (threshold +inf) with a reason.
    """
    predictions, labels = _check(predictions, labels)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target precision must be in (0, 1], got {target!r}")
    num_classes = predictions.shape[1]
    out = {name: np.full(num_classes, np.nan) for name in ("threshold", "precision", "recall")}
    emitted = np.zeros(num_classes, dtype=np.int64)
    positives = np.sum(labels > 0, axis=0).astype(np.int64)
    reasons = []
    for c in range(num_classes):
        if positives[c] < max(min_positives, 1):
            out["threshold"][c] = np.inf
            reasons.append(f"{positives[c]} positives in the calibration split "
                           f"(need >= {max(min_positives, 1)})")
            continue
        op = coverage_at_precision(predictions[:, c:c + 1], labels[:, c:c + 1], target,
                                   conservative=conservative)
        out["threshold"][c] = op.threshold
        if op.precision is None:
            curve = precision_coverage_curve(predictions[:, c:c + 1], labels[:, c:c + 1])
            reasons.append(f"precision {target:.2f} unreachable (best {np.max(curve.precision):.3f})")
            continue
        out["precision"][c], out["recall"][c] = op.precision, op.recall
        emitted[c] = op.labels_emitted
        reasons.append("")
    return ClassThresholds(threshold=out["threshold"], precision=out["precision"],
                           recall=out["recall"], emitted=emitted, positives=positives,
                           reason=tuple(reasons))


def evaluate_predictions(predictions, labels, top_k: int = 20, target_precision: float = 0.8,
                         thresholds=None, f1_threshold: float = 0.5) -> dict:
    """All metrics as one JSON-ready dict.

    thresholds: optional per-class thresholds float[C] (+inf = disabled), e.g. calibrated on a
    validation split; adds the per-class operating point and uses them for F1.
    """
    predictions, labels = _check(predictions, labels)
    point = coverage_at_precision(predictions, labels, target_precision)
    result = {
        "videos": int(predictions.shape[0]), "classes": int(predictions.shape[1]),
        "positives": int(np.sum(labels > 0)),
        f"gap_at_{top_k}": gap(predictions, labels, top_k),
        "map": mean_average_precision(predictions, labels, top_k),
        "hit_at_1": hit_at_one(predictions, labels),
        "perr": perr(predictions, labels),
        "coverage_at_precision": point.to_dict(),
        "coverage_at_precision_conservative":
            coverage_at_precision(predictions, labels, target_precision, conservative=True).to_dict(),
    }
    if thresholds is None:
        result["f1"] = {"threshold": f1_threshold, **f1_scores(predictions, labels, f1_threshold)}
    else:
        thresholds = np.asarray(thresholds, dtype=np.float64)
        result["f1"] = {"threshold": "per-class", **f1_scores(predictions, labels, thresholds)}
        result["per_class_thresholds"] = coverage_with_thresholds(
            predictions, labels, thresholds, target_precision).to_dict()
        result["per_class_thresholds"]["threshold"] = None
    return result
