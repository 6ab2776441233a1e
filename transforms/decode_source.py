"""Opening video bytes for PyAV through Beam FileSystems, and cheap checks before FFmpeg sees them.

Local files are handed to FFmpeg by path (its own I/O is fastest); every other scheme (gs://, ...)
goes through `FileSystems.open`, a seekable file object PyAV reads with callbacks.

Before FFmpeg opens anything: a local path must name a regular file (a FIFO would block the open
forever, a device would stream endless bytes) whose real location is inside the folder the path
names (a symlink must not reach outside it); and the first bytes must carry the signature of a
video container we accept (`sniff_container`), so FFmpeg never probes a file as an image or any
other of its hundreds of formats (a small PNG declaring a huge canvas decodes to gigabytes).
"""
from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.decode_errors import VideoRejected

SNIFF_BYTES = 1024  # enough for every signature below (MPEG-TS needs three 192-byte packets)
# ISO BMFF / QuickTime files start with one of these boxes.
_ISO_BMFF_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
# ISO BMFF major brands of still images (HEIF, AVIF, camera raw): the mov demuxer would open them.
_IMAGE_BRANDS = {b"avif", b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2", b"crx "}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
# What a rejected file looks like, for the rejection message only.
_OTHER_SIGNATURES = (
    (0, b"\x89PNG", "a PNG image"), (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"), (0, b"BM", "a BMP image"), (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"), (8, b"WEBP", "a WebP image"), (8, b"WAVE", "a WAV audio file"),
    (0, b"ID3", "an MP3 audio file"), (0, b"fLaC", "a FLAC audio file"),
    (0, b"%PDF", "a PDF document"), (0, b"PK\x03\x04", "a ZIP archive"),
)


def open_source(source: str | BinaryIO) -> tuple[BinaryIO, str | BinaryIO, int | None]:
    """(file object for our own reads, what to pass to av.open, size in bytes or None)."""
    if not isinstance(source, str):
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(0)
        return source, source, size
    scheme = FileSystems.get_scheme(source)
    if scheme is None:
        return _open_local(source)
    try:
        found = FileSystems.match([source])[0].metadata_list
    except Exception as exc:  # BeamIOError: unlistable
        raise VideoRejected("unreadable", f"cannot list {source}: {exc}") from exc
    if not found:
        raise VideoRejected("unreadable", f"no such file: {source}")
    size = found[0].size_in_bytes
    handle = FileSystems.open(source, mime_type="application/octet-stream",
                              compression_type=CompressionTypes.UNCOMPRESSED)
    return handle, handle, size


def _open_local(path: str) -> tuple[BinaryIO, str, int]:
    """Checks `path` (see `check_local_file`), then opens it without ever blocking."""
    size = check_local_file(path)
    try:
        # O_NONBLOCK: were the path a FIFO by now (replaced since the check), open returns at once
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise VideoRejected("unreadable", f"cannot open {path}: {exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise VideoRejected("not-a-regular-file", f"{path} is no longer a regular file")
    return os.fdopen(fd, "rb"), path, size


def check_local_file(path: str) -> int:
    """The size of local file `path` after checking, without opening it, that it is a regular file
    (after symlinks) whose real path lies inside the real path of its own folder."""
    folder = os.path.realpath(os.path.dirname(path) or ".")
    real = os.path.realpath(path)
    if os.path.commonpath([folder, real]) != folder:
        raise VideoRejected("outside-root",
                            f"{path} resolves to {real}, outside its folder {folder}")
    try:
        info = os.stat(real)
    except FileNotFoundError as exc:
        raise VideoRejected("unreadable", f"no such file: {path}") from exc
    except OSError as exc:
        raise VideoRejected("unreadable", f"cannot stat {path}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise VideoRejected("not-a-regular-file",
                            f"{path} is {_file_kind(info.st_mode)}, not a regular file")
    return info.st_size


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _read_at(file: BinaryIO, offset: int, n: int) -> bytes:
    file.seek(offset)
    return file.read(n)


def sniff_container(file: BinaryIO) -> str | None:
    """The FFmpeg demuxer for the video container the first bytes of `file` announce ("mov",
    "matroska", "mpegts", "avi", "flv", "mpeg", "ogg", "asf"), or None for anything else."""
    head = _read_at(file, 0, SNIFF_BYTES)
    file.seek(0)
    if head[4:8] in _ISO_BMFF_FIRST_BOXES:
        return None if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS else "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if _is_mpegts(head):
        return "mpegts"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"FLV\x01":
        return "flv"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:16] == _ASF_GUID:
        return "asf"
    return None


def _is_mpegts(head: bytes) -> bool:
    """Three sync bytes 0x47 a packet apart: 188-byte TS, 192-byte M2TS (4-byte timecode first)
    or 204-byte TS (16 bytes of error correction after each packet)."""
    for first, stride in ((0, 188), (4, 192), (0, 204)):
        offsets = [first + i * stride for i in range(3)]
        if offsets[-1] < len(head) and all(head[o] == 0x47 for o in offsets):
            return True
    return False


def describe_non_video(file: BinaryIO) -> str | None:
    """What the first bytes of a file the sniffer refused look like ("a PNG image"), if known."""
    head = _read_at(file, 0, 16)
    file.seek(0)
    if head[4:8] == b"ftyp":
        return f"an ISO BMFF still image (brand {head[8:12].decode('latin-1')!r})"
    for offset, signature, name in _OTHER_SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return name
    return None


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
