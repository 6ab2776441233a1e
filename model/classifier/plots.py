"""The charts a reviewer looks at, as PNG files (local path or gs://).

    precision_coverage(curve, point, path)      evaluate: one global threshold
    pr_curves(predictions, labels, names, thresholds, target, path)
                                                 calibrate / evaluate: one precision-recall curve
                                                 per category, its threshold marked
    category_bars(rows, target, path)            calibrate: precision and coverage per category
    training_curves(history, path)               train: loss and validation GAP@20 per epoch

matplotlib is the optional 'plots' extra (workers never plot): it is imported here only, inside
the functions, with the Agg backend (no display needed).
"""
from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np
from apache_beam.io.filesystems import FileSystems

from model.classifier import artifacts, metrics

MAX_PANELS = 30  # per-category grids beyond this are unreadable: the classes with most positives


class PlotsUnavailable(ModuleNotFoundError):
    """matplotlib (the 'plots' extra) is not installed."""


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise PlotsUnavailable("charts need matplotlib, from the 'plots' extra: "
                               "pip install 'video-iab[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def require() -> None:
    """Raise PlotsUnavailable now, so a command fails before its work rather than after."""
    _pyplot()


def _save(fig, path: str) -> None:
    """The figure as PNG at `path`: a local file atomically (a rename), gs:// as one upload."""
    try:
        if "://" in path:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            with FileSystems.create(path) as fh:
                fh.write(buffer.getvalue())
        else:
            artifacts.replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        _pyplot().close(fig)


def spread(n: int, max_points: int) -> np.ndarray:
    """At most max_points indices of 0..n-1, evenly spread, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def precision_coverage(curve: metrics.PrecisionCoverageCurve, point: metrics.OperatingPoint,
                       path: str, title: str = "") -> None:
    """Precision (y) against coverage (x) of one global threshold, the operating point marked."""
    plt = _pyplot()
    idx = spread(len(curve.threshold), 5000)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(curve.coverage[idx], curve.precision[idx], lw=1.5, label="global threshold")
    ax.axhline(point.target_precision, color="grey", ls="--", lw=1,
               label=f"target precision {point.target_precision:.2f}")
    if point.precision is not None:
        ax.plot([point.coverage], [point.precision], "o", color="C3",
                label=f"t*={point.threshold:.3g}: coverage {point.coverage:.3f}")
    ax.set(xlabel="coverage (videos with >= 1 label)", ylabel="precision of emitted labels",
           xlim=(0, 1.0), ylim=(0, 1.02), title=title or "precision-coverage")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _most_positive(labels: np.ndarray, limit: int) -> list[int]:
    """Indices of the `limit` classes with most positives (ties: lower index first)."""
    positives = np.sum(np.asarray(labels) > 0, axis=0)
    return [int(i) for i in np.argsort(-positives, kind="stable")[:limit]]


def _at_threshold(scores: np.ndarray, positive: np.ndarray, threshold: float) -> tuple[float, float] | None:
    """(recall, precision) of one class at `threshold`; None when disabled or nothing passes."""
    emitted = scores >= threshold
    if not np.isfinite(threshold) or not emitted.any() or not positive.any():
        return None
    hits = float(np.sum(emitted & positive))
    return hits / float(np.sum(positive)), hits / float(np.sum(emitted))


def _pr_panel(ax, scores: np.ndarray, positive: np.ndarray, threshold: float, target: float,
              title: str) -> None:
    """One class: precision (y) against recall (x), target line, the threshold's point."""
    if positive.any():
        curve = metrics.precision_coverage_curve(scores[:, None], positive[:, None].astype(np.float32))
        idx = spread(len(curve.threshold), 1000)
        ax.plot(curve.recall[idx], curve.precision[idx], lw=1.2)
    ax.axhline(target, color="grey", ls="--", lw=0.8)
    point = _at_threshold(scores, positive, threshold)
    if point is not None:
        ax.plot([point[0]], [point[1]], "o", color="C3", ms=5)
        ax.annotate(f"t={threshold:.3g}", point, textcoords="offset points", xytext=(-4, -12),
                    ha="right", fontsize=7, color="C3")
    else:
        why = "disabled" if not np.isfinite(threshold) else \
            "no positives here" if not positive.any() else "nothing passes its threshold"
        ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", color="C3", fontsize=8)
    ax.set(xlim=(0, 1.03), ylim=(0, 1.03))
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6, labelbottom=True)
    ax.grid(alpha=0.3)


def pr_curves(predictions: np.ndarray, labels: np.ndarray, names: Sequence[str],
              thresholds: np.ndarray, target: float, path: str, title: str = "") -> None:
    """A grid of per-category precision-recall curves, each with its threshold marked.

    predictions float[V, C], labels [V, C] (> 0 = positive), names: C category names,
    thresholds float[C] (+inf = disabled). At most MAX_PANELS categories, most positives first.
    """
    plt = _pyplot()
    chosen = _most_positive(labels, MAX_PANELS)
    cols = min(5, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.8 * cols, 2.5 * rows + 0.6), dpi=100,
                             squeeze=False, sharex=True, sharey=True)
    positive = np.asarray(labels) > 0
    for ax, c in zip(axes.flat, chosen):
        _pr_panel(ax, predictions[:, c], positive[:, c], float(thresholds[c]), target,
                  f"{names[c][:26]} ({int(positive[:, c].sum())} pos.)")
    for ax in list(axes.flat)[len(chosen):]:
        ax.axis("off")
    shown = f"{len(chosen)} of {len(names)} categories (most positives)" if len(chosen) < len(names) \
        else f"{len(names)} categories"
    fig.suptitle(f"{title or 'precision-recall per category'}: {shown}; dashed: target "
                 f"precision {target:.2f}; dot: the threshold", fontsize=9)
    fig.supxlabel("recall", fontsize=8)
    fig.supylabel("precision", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def category_bars(rows: Sequence[dict], target: float, path: str, title: str = "") -> None:
    """Precision and coverage (recall: share of the category's videos labelled) per category at
    its threshold: thresholds.json rows {name, precision, recall, positives, enabled, reason}.
    At most MAX_PANELS * 2 categories, most positives first."""
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: -(r.get("positives") or 0))[:2 * MAX_PANELS]
    y = np.arange(len(rows))
    precision = [r.get("precision") or 0.0 for r in rows]
    recall = [r.get("recall") or 0.0 for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 1.5 + 0.32 * len(rows)), dpi=100, layout="constrained")
    ax.barh(y - 0.2, precision, height=0.4, label="precision", color="C0")
    ax.barh(y + 0.2, recall, height=0.4, label="coverage (recall)", color="C2")
    ax.axvline(target, color="grey", ls="--", lw=1, label=f"target precision {target:.2f}")
    for i, row in enumerate(rows):
        if not row.get("enabled", True):
            ax.text(0.01, i, f"disabled: {row.get('reason') or ''}"[:60], va="center", fontsize=7, color="C3")
    ax.set_yticks(y, [f"{str(r.get('name'))[:28]} ({r.get('positives') or 0})" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1.02), xlabel="on the calibration split, at each category's threshold",
           title=title or "precision and coverage per category (positives)")
    fig.legend(loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def training_curves(history: Sequence[dict], path: str, title: str = "") -> None:
    """Training loss and validation GAP@20 per epoch (history.json rows {epoch, loss,
    validation_gap_at_20?}), side by side."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, gap_ax) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    loss_ax.plot(epochs, [row.get("loss") for row in history], "o-", ms=3)
    loss_ax.set(xlabel="epoch", ylabel="loss (summed cross-entropy)", title="training loss")
    validated = [row for row in history if row.get("validation_gap_at_20") is not None]
    if validated:
        gap_ax.plot([r["epoch"] for r in validated], [r["validation_gap_at_20"] for r in validated],
                    "o-", ms=3, color="C2")
        gap_ax.set_ylim(0, 1.02)
    else:
        gap_ax.text(0.5, 0.5, "no validation data\n(--validate-data)", ha="center", va="center",
                    transform=gap_ax.transAxes)
    gap_ax.set(xlabel="epoch", ylabel="GAP@20", title="validation GAP@20")
    for ax in (loss_ax, gap_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
