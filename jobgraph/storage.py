"""Data locations through Beam FileSystems: local paths and gs:// alike."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
import uuid

from apache_beam.io.filesystems import FileSystems

from jobgraph import faults
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


def write_atomically(path: str, data: bytes, *, output: bool = True) -> None:
    """Write the whole object or nothing; an existing object is replaced, never deleted first.

    Local: a temporary file in the same directory, named after its owner (`temp_name`), then an
    atomic rename; a writer killed in between leaves that file for `sweep_dead_writers`.
    gs://: one upload straight to the final name: GCS makes an object visible only when its
    upload completes, so readers see the old object or the new one, never a part.
    output: False for the run's own files (its summary): the fault switches (jobgraph.faults)
    count and log a job's outputs only.
    """
    if not _is_local(path):
        with FileSystems.create(path) as fh:
            fh.write(data)
        if output:
            faults.output_written(path)
        return
    directory, name = os.path.split(path)
    directory = directory or "."
    ensure_dir(directory)
    tmp = os.path.join(directory, temp_name(name))
    try:
        with open(tmp, "xb") as fh:
            if output:
                faults.temp_file_created()
            fh.write(data)
        os.replace(tmp, path)  # atomic, and overwrites (force)
        if output:
            faults.output_written(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


# ---- ownership of temporary files and folders ----------------------------------------------
# A temporary name carries its writer's PID and host, so a later run on the same host can tell
# a dead writer's leftovers (PID gone) from a live writer's (never touched). Leftovers of other
# hosts (a shared disk) are judged by age alone.

TEMP_MARKER = ".tmp-"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP_FILE = re.compile(r"^\..+\.tmp-(?:(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]+)-)?[0-9a-f]{32}$")
# Beam's WriteToText stages shards in `beam-temp-{file prefix}-{uuid1}`; our prefixes are run IDs.
_BEAM_TEMP = re.compile(r"^beam-temp-(?:.*-(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]+)-)?[0-9a-f]{32}$")
FOREIGN_MAX_AGE_S = 24 * 3600.0


def owner_tag() -> str:
    """`{pid}@{host}` of this process, as it appears in temporary names and run IDs."""
    return f"{os.getpid()}@{_HOST}"


def temp_name(name: str) -> str:
    """Hidden temporary name next to `name`: `.{name}.tmp-{pid}@{host}-{uuid}`."""
    return f".{name}{TEMP_MARKER}{owner_tag()}-{uuid.uuid4().hex}"


def is_temporary(path: str) -> bool:
    return TEMP_MARKER in path.rstrip("/").rsplit("/", 1)[-1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _writer_is_dead(match: re.Match, path: str, now: float, max_age_s: float) -> bool:
    """A leftover may go when its writer is a dead process of this host, or when it is older
    than `max_age_s` and its writer is not a live process of this host."""
    pid, host = match.group("pid"), match.group("host")
    if host == _HOST and pid is not None:
        return not _pid_alive(int(pid))
    try:
        return now - os.lstat(path).st_mtime > max_age_s
    except FileNotFoundError:
        return False


def sweep_dead_writers(directory: str, max_age_s: float = FOREIGN_MAX_AGE_S) -> list[str]:
    """Remove the temporary files (`write_atomically`) and Beam `beam-temp-*` folders left in a
    local `directory` by writers that died; returns what was removed. Never touches a live
    writer's files; object stores are skipped (their writes leave no temporary objects)."""
    if not _is_local(directory) or not os.path.isdir(directory):
        return []
    now, removed = time.time(), []
    for entry in os.scandir(directory):
        match = _TEMP_FILE.match(entry.name) if entry.is_file(follow_symlinks=False) else (
            _BEAM_TEMP.match(entry.name) if entry.is_dir(follow_symlinks=False) else None)
        if match is None or not _writer_is_dead(match, entry.path, now, max_age_s):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
            removed.append(entry.path)
    return removed


class UnsafeRead(ValueError):
    """A file that must not be read: not a regular file (a FIFO would block forever, a device
    never ends) or larger than the caller's limit."""

    reason = "unsafe-file"


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """The whole object at `path`; with `limit`, UnsafeRead when it holds more than `limit`
    bytes. Local paths must be regular files (symlinks are followed to one)."""
    if _is_local(path):
        import stat

        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeRead(f"{path} is not a regular file")
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise UnsafeRead(f"{path} holds more than {limit} bytes")
    return data


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
