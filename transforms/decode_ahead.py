"""Decode the next videos in a helper process while the current one is embedded.

Why a process and not a thread: PyAV holds the GIL for most of a decode (demuxing, per-packet
calls, frame conversion), so a decode thread and an embedding thread in one interpreter run
mostly one at a time; measured, a decode competing with one busy Python thread took 20x longer.
A helper process decodes with the GIL to itself and returns the sampled frames (about 16 MB for
60 frames at 299x299), while the caller's process embeds.

    ahead = DecodeAhead(DecodeConfig(), depth=1)
    pending = ahead.submit(path)       # a concurrent.futures.Future
    video = pending.result()           # DecodedVideo, or raises VideoRejected / the decode error
    ahead.close()

depth 0 decodes in the calling process when `result()` is asked for (no helper process).
A decoder crash (e.g. a segfault in FFmpeg on a hostile file) kills only the helper: that video
fails with VideoRejected("decoder-crashed") and a new helper starts for the next one.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
from concurrent.futures.process import BrokenProcessPool

from transforms.decode import DecodeConfig, DecodedVideo, VideoRejected, decode_video


class _Deferred(concurrent.futures.Future):
    """A Future that runs its call when its result is first asked for (depth 0)."""

    def __init__(self, fn, *args):
        super().__init__()
        self._call = (fn, args)
        self._lock = threading.Lock()

    def result(self, timeout=None):
        with self._lock:
            if self._call is not None:
                fn, args = self._call
                self._call = None
                try:
                    self.set_result(fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
                    self.set_exception(exc)
        return super().result(timeout)


class _CrashGuard(concurrent.futures.Future):
    """Turns the helper process dying into VideoRejected("decoder-crashed") for the video it was
    decoding (the oldest one still pending: the helper decodes in order); videos queued behind
    it are decoded again by a new helper."""

    def __init__(self, owner: "DecodeAhead", source: str):
        super().__init__()
        self._owner, self._source = owner, source
        self._generation, self._inner = owner._submit_raw(source)

    def result(self, timeout=None) -> DecodedVideo:
        while True:
            try:
                return self._inner.result(timeout)
            except BrokenProcessPool as exc:
                if self._owner._restart(self._generation):
                    raise VideoRejected("decoder-crashed", f"the decoder process died decoding "
                                        f"{self._source}: {exc}") from None
                self._generation, self._inner = self._owner._submit_raw(self._source)


class DecodeAhead:
    """Runs `decode_video(path, config)` in one helper process, up to `depth` videos ahead.

    Args:
      config: the DecodeConfig for every video.
      depth: how many submitted videos may be decoding or decoded but not yet taken; 0 runs
        every decode in the caller's process, at `result()` time.
    """

    def __init__(self, config: DecodeConfig, depth: int = 1):
        if depth < 0:
            raise ValueError(f"decode-ahead depth must be >= 0, got {depth}")
        self.config = config
        self.depth = depth
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._generation = 0  # bumped each time a dead helper is replaced

    def _submit_raw(self, source: str) -> tuple[int, concurrent.futures.Future]:
        if self._pool is None:
            # spawn: the caller may hold threads (Beam's gRPC, OpenVINO) that fork would copy.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return self._generation, self._pool.submit(decode_video, source, self.config)
        except BrokenProcessPool:
            self._restart(self._generation)
            return self._submit_raw(source)

    def _restart(self, generation: int) -> bool:
        """Replace the helper of `generation` if it still is the current one; True if replaced
        (the caller's video is the one that killed it)."""
        if generation != self._generation:
            return False
        self._generation += 1
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        return True

    def submit(self, source: str) -> concurrent.futures.Future:
        """Start decoding `source` (a path or URL decode_video accepts); returns its Future."""
        if self.depth == 0:
            return _Deferred(decode_video, source, self.config)
        return _CrashGuard(self, source)

    def close(self) -> None:
        """Stop the helper process (pending decodes are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "DecodeAhead":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
