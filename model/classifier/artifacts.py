"""The model directory: what a trained classifier consists of, on a local path or gs://.

    {model_dir}/config.yaml        ModelConfig (model/classifier/config.py), the exact config trained
    {model_dir}/model.weights.h5   Keras weights of nextvlad.build_model(config)
    {model_dir}/categories.json    the classes in output order: [{index, id, name, tier_path}]
    {model_dir}/thresholds.json    per-class operating thresholds (see `thresholds_document`)
    {model_dir}/history.json       training history (loss, validation GAP per epoch)
    {model_dir}/checkpoints/       training state for resume (last.keras, state.json); not needed
                                   to serve the model
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Sequence

import numpy as np
from apache_beam.io.filesystems import FileSystems

from model.taxonomy import TAXONOMY_VERSION, Category

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.weights.h5"
CATEGORIES_FILE = "categories.json"
THRESHOLDS_FILE = "thresholds.json"
HISTORY_FILE = "history.json"
CHECKPOINT_DIR = "checkpoints"
SERVING_FILES = (CONFIG_FILE, WEIGHTS_FILE, CATEGORIES_FILE, THRESHOLDS_FILE)


def join(model_dir: str, name: str) -> str:
    return FileSystems.join(model_dir, name)


def replace_atomically(path: str, write: Callable[[str], None]) -> None:
    """A local file written all or nothing: `write(temporary path)` next to `path` (the name
    keeps its suffix, which Keras checks), then renamed over it."""
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f"tmp-{os.getpid()}-{name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str, obj: Any) -> None:
    """Write JSON so that readers see all or nothing (gs://: one upload; local: a rename)."""
    data = json.dumps(obj, indent=1, allow_nan=False).encode("utf-8")
    if "://" in path:
        with FileSystems.create(path) as f:
            f.write(data)
        return

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    replace_atomically(path, write)


def read_json(path: str) -> Any:
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def categories_document(categories: Sequence[Category]) -> list[dict]:
    return [{"index": i, **c.to_dict()} for i, c in enumerate(categories)]


def parse_categories(document: list[dict], source: str) -> list[Category]:
    if not isinstance(document, list):
        raise ValueError(f"{source}: expected a JSON list of categories")
    out = []
    for i, row in enumerate(document):
        if not isinstance(row, dict) or row.get("index") != i or "id" not in row:
            raise ValueError(f"{source}: entry {i}: expected {{index: {i}, id, name, tier_path}}")
        out.append(Category(str(row["id"]), str(row.get("name", row["id"])),
                            tuple(row.get("tier_path", ()))))
    return out


def thresholds_document(categories: Sequence[Category], thresholds: np.ndarray, *,
                        calibrated: bool, target_precision: float | None = None,
                        data: Sequence[str] = (), details: dict[str, np.ndarray] | None = None,
                        reasons: Sequence[str] | None = None) -> dict:
    """The thresholds.json document.

    thresholds: float[C], +inf for a disabled class. details: optional per-class arrays
    (precision, recall, emitted, positives) measured on the calibration split.
    """
    rows = []
    for i, category in enumerate(categories):
        value = float(thresholds[i])
        row = {"index": i, "id": category.id, "name": category.name,
               "threshold": value if np.isfinite(value) else None,
               "enabled": bool(np.isfinite(value))}
        for key, array in (details or {}).items():
            item = array[i].item()
            row[key] = None if isinstance(item, float) and not np.isfinite(item) else item
        if reasons is not None and reasons[i]:
            row["reason"] = reasons[i]
        rows.append(row)
    return {"taxonomy": TAXONOMY_VERSION, "calibrated": calibrated,
            "target_precision": target_precision, "data": list(data),
            "enabled": int(sum(r["enabled"] for r in rows)), "categories": rows}


def parse_thresholds(document: dict, num_classes: int, source: str) -> np.ndarray:
    """thresholds.json -> float64[C] (+inf = disabled)."""
    rows = document.get("categories") if isinstance(document, dict) else None
    if not isinstance(rows, list) or len(rows) != num_classes:
        raise ValueError(f"{source}: expected 'categories' with {num_classes} entries")
    out = np.full(num_classes, np.inf)
    for i, row in enumerate(rows):
        if row.get("index") != i:
            raise ValueError(f"{source}: entry {i} has index {row.get('index')!r}")
        if row.get("enabled"):
            if not isinstance(row.get("threshold"), (int, float)):
                raise ValueError(f"{source}: entry {i} is enabled but has no numeric threshold")
            out[i] = float(row["threshold"])
    return out


def missing_files(model_dir: str, names: Sequence[str] = SERVING_FILES) -> list[str]:
    """The files of `names` that `model_dir` (local or gs://) lacks."""
    return [name for name in names if not FileSystems.exists(join(model_dir, name))]


def localize(model_dir: str, names: Sequence[str] = SERVING_FILES) -> tuple[str, str | None]:
    """(local directory holding `names`, temp dir to delete or None).

    Local directories are used in place; gs:// (any Beam FileSystems scheme) is copied into a
    fresh temporary directory, because Keras reads weights from local files only.
    """
    if "://" not in model_dir:
        missing = [n for n in names if not os.path.exists(os.path.join(model_dir, n))]
        if missing:
            raise ValueError(f"model directory {model_dir}: missing {missing}")
        return model_dir, None
    tmp = tempfile.mkdtemp(prefix="nextvlad-model-")
    try:
        for name in names:
            source = join(model_dir, name)
            if not FileSystems.exists(source):
                raise ValueError(f"model directory {model_dir}: missing {name}")
            with FileSystems.open(source) as src, open(os.path.join(tmp, name), "wb") as dst:
                shutil.copyfileobj(src, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, tmp
