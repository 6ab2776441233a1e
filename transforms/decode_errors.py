"""Why a video is refused: `VideoRejected` with its stable reason codes, and the pixel limit.

Its own module because the source checks (decode_source.py), the opener (decode.py) and the
frame decoder (decode_sampling.py) all reject videos; each imports this, none imports another.
"""
from __future__ import annotations

REASONS = ("empty-file", "file-too-large", "not-a-regular-file", "outside-root", "not-a-video",
           "no-video-stream", "too-many-streams", "frame-too-large", "too-long", "truncated",
           "corrupt", "no-frames", "unreadable", "decoder-crashed")


class VideoRejected(Exception):
    """A video this job will not process; `reason` is a stable short code from REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self):
        return type(self), (self.reason, self.message)


def check_pixels(width: int | None, height: int | None, max_pixels: int, what: str) -> None:
    """Rejects ("frame-too-large") a picture of `width` x `height` (None counts as 0) over
    `max_pixels`; `what` opens the message, e.g. "a decoded frame is"."""
    pixels = (width or 0) * (height or 0)
    if pixels > max_pixels:
        raise VideoRejected("frame-too-large", f"{what} {width}x{height} = {pixels} pixels, "
                            f"over the limit of {max_pixels}")
