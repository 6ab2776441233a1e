"""Upload metadata (category, language, duration, channel) as it arrives: in an upload event's
JSON payload, in a sidecar file `{location}/{id}.json`, or stored with a video's features.

Small by nature, so anything larger or deeper than the limits below is hostile, not metadata:
`BadMetadata` (a `bad-metadata` dead letter for that video). Values of the wrong type or out of
range are dropped (unknown), as missing ones are.
"""
from __future__ import annotations

import json
import math
from typing import Any

from jobgraph import storage
from jobgraph.config import DataIO
from jobgraph.message import KlioMessage
from jobgraph.routing import data_path
from model.features.codec import METADATA_CONTEXT, METADATA_KEYS

MAX_METADATA_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


class BadMetadata(ValueError):
    """Upload metadata (payload or sidecar) that is present but unusable: too large, too deeply
    nested, not a JSON object, or not a regular file."""

    reason = "bad-metadata"


def _json_depth_ok(text: str, limit: int) -> bool:
    """Whether the brackets of `text` nest at most `limit` deep (strings are not skipped, so
    brackets inside strings count too: an over-estimate, never an under-estimate)."""
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _bounded_json_text(data: bytes, where: str) -> str:
    """`data` as text when it is within MAX_METADATA_BYTES, UTF-8 and at most MAX_JSON_DEPTH
    deep (json would recurse into deeper input until RecursionError); else BadMetadata."""
    if len(data) > MAX_METADATA_BYTES:
        raise BadMetadata(f"{where}: {len(data)} bytes, over the limit of {MAX_METADATA_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMetadata(f"{where}: not UTF-8 ({exc.reason})") from None
    if not _json_depth_ok(text, MAX_JSON_DEPTH):
        raise BadMetadata(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return text


def load_metadata_json(data: bytes, where: str):
    """Small JSON parsed safely; BadMetadata when over the limits or not JSON."""
    try:
        return json.loads(_bounded_json_text(data, where))
    except ValueError as exc:
        if isinstance(exc, BadMetadata):
            raise
        raise BadMetadata(f"{where}: not JSON ({exc})") from None


def metadata_from_payload(payload: bytes) -> dict | None:
    """The upload event's JSON (a dict) from a message payload, or None when it carries none.

    A payload that is not JSON is someone else's payload (None); JSON-looking payloads over the
    size or depth limits raise BadMetadata."""
    if not payload or payload.lstrip()[:1] not in (b"{", b"["):
        return None
    text = _bounded_json_text(payload, "message payload")
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        doc = doc["metadata"]
    return doc if isinstance(doc, dict) and any(k in doc for k in METADATA_KEYS) else None


def read_small_json(path: str):
    """The JSON document of a small file (a sidecar, textual labels): BadMetadata when the file
    is not a regular file, is over MAX_METADATA_BYTES, too deep or not JSON."""
    try:
        data = storage.read_bytes(path, limit=MAX_METADATA_BYTES)
    except storage.UnsafeRead as exc:
        raise BadMetadata(str(exc)) from None
    return load_metadata_json(data, path)


def sidecar_path(location: str, video_id: str) -> str:
    """`{location}/{video_id}.json`, through the runtime's one path function."""
    return data_path(DataIO(type="file", location=location, file_suffix=".json"), video_id)


def metadata_from_sidecar(location: str, video_id: str) -> dict | None:
    """`{location}/{video_id}.json` as a dict, None when absent; BadMetadata when unusable."""
    sidecar = sidecar_path(location, video_id)
    if not storage.exists(sidecar):
        return None
    doc = read_small_json(sidecar)
    if not isinstance(doc, dict):
        raise BadMetadata(f"{sidecar}: not a JSON object")
    return doc


def finite_number(value) -> float | None:
    """`value` as a finite float when it is an int or float (not a bool), else None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # e.g. an integer of 400 digits
        return None
    return number if math.isfinite(number) else None


def as_duration(value) -> float | None:
    """A finite, non-negative number of seconds, or None."""
    seconds = finite_number(value)
    return seconds if seconds is not None and seconds >= 0 else None


def clean_metadata(doc: dict | None) -> dict:
    """Keep the known keys with sane types and values; anything else becomes unknown (absent)."""
    out: dict[str, Any] = {}
    for key in ("category", "language", "channel"):
        value = (doc or {}).get(key)
        if isinstance(value, str) and value:
            out[key] = value[:200]
    duration = as_duration((doc or {}).get("duration"))
    if duration is not None:
        out["duration"] = duration
    return out


def metadata_from_message(message: KlioMessage) -> dict:
    """The cleaned upload metadata of a KlioMessage's payload ({} when none or unusable): what
    video-features stores with the features, so that a later batch run of video-iab (a repair
    or a relabelling of the catalogue) still has the upload's metadata."""
    try:
        return clean_metadata(metadata_from_payload(message.data.payload))
    except Exception:  # noqa: BLE001 - hostile payloads are video-iab's dead letters, not ours
        return {}


def metadata_from_context(context: dict) -> dict:
    """The upload metadata stored with a video's features (context `meta_{key}`), cleaned."""
    return clean_metadata({key: context[name] for key, name in METADATA_CONTEXT.items()
                           if context.get(name) is not None})
