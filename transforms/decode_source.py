"""Opening video bytes for PyAV through Beam FileSystems, and cheap structural checks.

Local files are handed to FFmpeg by path (its own I/O is fastest); every other scheme (gs://, ...)
goes through `FileSystems.open`, a seekable file object PyAV reads with callbacks.
"""
from __future__ import annotations

import io
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_SIGNATURES = (
    (4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"), (0, b"RIFF"), (0, b"FLV"), (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"), (0, b"\x30\x26\xb2\x75"), (4, b"moov"), (4, b"mdat"), (4, b"free"),
)


def open_source(source: str | BinaryIO) -> tuple[BinaryIO, str | BinaryIO, int | None]:
    """(file object for our own reads, what to pass to av.open, size in bytes or None)."""
    if not isinstance(source, str):
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(0)
        return source, source, size
    scheme = FileSystems.get_scheme(source)
    try:
        found = FileSystems.match([source])[0].metadata_list
    except Exception as exc:  # BeamIOError: unlistable
        raise _rejected("unreadable", f"cannot list {source}: {exc}") from exc
    if not found:
        raise _rejected("unreadable", f"no such file: {source}")
    size = found[0].size_in_bytes
    handle = FileSystems.open(source, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED)
    if scheme in (None, "file"):
        return handle, source, size
    return handle, handle, size


def _rejected(reason: str, message: str):
    from transforms.decode import VideoRejected

    return VideoRejected(reason, message)


def _read_at(file: BinaryIO, offset: int, n: int) -> bytes:
    file.seek(offset)
    return file.read(n)


def has_container_signature(file: BinaryIO) -> bool:
    """True when the first bytes look like a known video container."""
    head = _read_at(file, 0, 16)
    file.seek(0)
    return any(head[o:o + len(sig)] == sig for o, sig in _SIGNATURES)


def structure_problem(file: BinaryIO, size: int | None) -> tuple[str, str] | None:
    """("truncated", why) when the container's top-level structure runs past the end of the
    file (ISO-BMFF boxes, Matroska/WebM segment), else None. Reads a few header bytes."""
    if not size:
        return None
    try:
        head = _read_at(file, 0, 16)
        if head[4:8] == b"ftyp":
            return _iso_bmff_problem(file, size)
        if head[:4] == b"\x1a\x45\xdf\xa3":
            return _ebml_problem(file, size)
        return None
    finally:
        file.seek(0)


def _iso_bmff_problem(file: BinaryIO, size: int) -> tuple[str, str] | None:
    offset = 0
    for _ in range(10_000):
        if offset >= size:
            return None
        header = _read_at(file, offset, 16)
        if len(header) < 8:
            return ("truncated", f"file ends inside a box header at byte {offset}")
        box_size = int.from_bytes(header[:4], "big")
        kind = header[4:8].decode("latin-1")
        if not all(32 <= b < 127 or b == 0xA9 for b in header[4:8]):
            return ("corrupt", f"unreadable box header at byte {offset}")
        if box_size == 1:
            if len(header) < 16:
                return ("truncated", f"file ends inside box {kind!r} at byte {offset}")
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            return None  # extends to the end of the file
        if box_size < 8:
            return ("corrupt", f"invalid size {box_size} for box {kind!r} at byte {offset}")
        if offset + box_size > size:
            return ("truncated", f"box {kind!r} at byte {offset} needs {box_size} bytes, "
                                 f"the file has {size - offset} left")
        offset += box_size
    return None


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer at `pos`: (value, length, all value bits set)."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML vint")
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1:pos + length]:
        value = value << 8 | b
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _ebml_problem(file: BinaryIO, size: int) -> tuple[str, str] | None:
    data = _read_at(file, 0, 256)
    try:
        _, id_len, _ = _vint(data, 0, keep_marker=True)
        header_size, size_len, _ = _vint(data, id_len, keep_marker=False)
        pos = id_len + size_len + header_size
        segment_id, id_len, _ = _vint(data, pos, keep_marker=True)
        if segment_id != 0x18538067:
            return None
        segment_size, size_len, unknown = _vint(data, pos + id_len, keep_marker=False)
    except (ValueError, IndexError):
        return ("corrupt", "unreadable EBML header")
    start = pos + id_len + size_len
    if not unknown and start + segment_size > size:
        return ("truncated", f"Matroska segment needs {start + segment_size} bytes, "
                             f"the file has {size}")
    return None
