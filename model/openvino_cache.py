"""A disk cache of converted OpenVINO models, shared by the embedder and the classifier.

An entry is a directory `{cache_dir}/{name}` holding model.xml, model.bin and meta.json. It is
written to a private temporary directory and renamed into place, so readers never see half an
entry and two processes converting at once are safe (the second rename loses and its copy is
discarded). Entry names carry a key of everything the conversion depends on: a changed model or
converter makes a new entry, never a stale hit.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Callable

# OpenVINO's and NNCF's telemetry would send usage events to an outside analytics service when
# no consent file exists; both fall back to a no-op stub when their telemetry package cannot be
# imported. Nothing this project does may leave the machine, so make sure it cannot be.
sys.modules.setdefault("openvino_telemetry", None)

META_FILE = "meta.json"
MODEL_FILE = "model.xml"
CACHE_ENV = "VIDEO_IAB_CACHE"


def cache_dir_or_default(configured: str | None = None) -> str:
    """Where converted models go: the configured cache_dir, else the default shared by the frame
    embedder, the audio embedder and the classifier ($VIDEO_IAB_CACHE, else
    $XDG_CACHE_HOME/video-iab, else ~/.cache/video-iab; `openvino/` inside it)."""
    if configured:
        return configured
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "video-iab")
    return os.path.join(root, "openvino")


def is_cached(entry: str) -> bool:
    """Whether a complete entry exists (meta.json is written last, before the rename)."""
    return os.path.exists(os.path.join(entry, META_FILE))


def convert_into_cache(entry: str, convert: Callable[[], object], meta: dict) -> None:
    """Run `convert() -> openvino.Model`, save it as `entry` atomically, with `meta` (+ the
    conversion's seconds) in meta.json. When another process renamed its copy first, ours is
    discarded and theirs is used."""
    import openvino as ov

    started = time.monotonic()
    ov_model = convert()
    parent = os.path.dirname(entry) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(entry) + "-", dir=parent)
    try:
        # compress_to_fp16=False: float32 weights are stored exactly as Keras has them.
        ov.save_model(ov_model, os.path.join(tmp, MODEL_FILE), compress_to_fp16=False)
        meta = dict(meta, conversion_seconds=round(time.monotonic() - started, 2))
        with open(os.path.join(tmp, META_FILE), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            if not is_cached(entry):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_or_convert(core, entry: str, convert: Callable[[], object], meta: dict) -> tuple[object, bool]:
    """(openvino.Model read from `entry`, cache_hit); converts into the cache on a miss."""
    hit = is_cached(entry)
    if not hit:
        convert_into_cache(entry, convert, meta)
    return core.read_model(os.path.join(entry, MODEL_FILE)), hit
