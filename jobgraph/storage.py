"""Data locations through Beam FileSystems: local paths and gs:// alike."""
from __future__ import annotations

import os
import uuid

from apache_beam.io.filesystems import FileSystems

from jobgraph.config import DataIO
from jobgraph.ids import validate_id


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def _is_local(path: str) -> bool:
    return "://" not in path


def ensure_dir(location: str) -> None:
    """Create a local directory (object stores need none)."""
    if _is_local(location):
        os.makedirs(location, exist_ok=True)


def write_atomically(path: str, data: bytes) -> None:
    """Write the whole object or nothing: a temporary name in the same directory, then a rename.

    On GCS an object appears only when its upload completes, so the rename (copy + delete) is
    atomic from a reader's point of view as well; readers never see a partial file.
    """
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    ensure_dir(directory)
    tmp = f"{directory}/.{name}.tmp-{uuid.uuid4().hex}"
    try:
        with FileSystems.create(tmp) as fh:
            fh.write(data)
        if _is_local(path):
            os.replace(tmp, path)  # atomic, and overwrites (force) unlike FileSystems.rename
        else:
            if FileSystems.exists(path):
                FileSystems.delete([path])
            FileSystems.rename([tmp], [path])
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as fh:
        return fh.read()


def id_from_path(path: str, suffix: str) -> str:
    """`{location}/{id}{suffix}` -> id (not validated)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name[: len(name) - len(suffix)] if suffix and name.endswith(suffix) else name


def list_ids(data: DataIO, id_pattern: str) -> list[str]:
    """IDs of the objects `{location}/{id}{suffix}` that exist, sorted; invalid names are skipped
    (they could never be processed)."""
    pattern = f"{data.location.rstrip('/')}/*{data.file_suffix}"
    result = FileSystems.match([pattern])[0]
    ids = []
    for meta in result.metadata_list:
        if not meta.path.endswith(data.file_suffix):
            continue
        try:
            ids.append(validate_id(id_from_path(meta.path, data.file_suffix), id_pattern))
        except ValueError:
            continue
    return sorted(ids)
