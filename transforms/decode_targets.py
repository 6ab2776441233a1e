"""The sampler's side of decoding: which presentation times are wanted, and which frame each gets.

Target k stands for `k * step` seconds after the first frame (step = 1 / fps, or longer for the
"uniform" policy). Its sample is the source frame on screen then: the largest pts <= the target's
tick, compared exactly in stream ticks (int, in the stream's time_base).

- `TargetClock` hands out the targets in order and converts between targets, ticks and seconds.
- `PlannedTargets` holds targets whose frame a GOP plan already named by pts, until the decoder
  returns that frame.
- `SequentialTargets` settles targets from frames arriving in presentation order, for GOPs too
  long to buffer and plan (see decode_sampling.py).

Frames here are `av.VideoFrame`s; only their `pts` (int ticks or None) is read.
"""
from __future__ import annotations

import collections
import fractions
import math
from collections.abc import Iterable, Iterator

import av


class TargetClock:
    """Targets 0 .. count-1, handed out once each and in order (`next` is the first not yet
    handed out). `origin` is the pts (int ticks) of the first frame, set by `start_at` once the
    first GOP is known; target k's tick is origin + floor(k * step / time_base)."""

    def __init__(self, step: fractions.Fraction, time_base: fractions.Fraction, count: int):
        self.step = step  # seconds between targets
        self.time_base = time_base  # seconds per tick
        self.count = count  # max_frames
        self.origin: int | None = None
        self.next = 0

    def start_at(self, first_pts: int) -> None:
        """Fixes the origin at `first_pts`, unless it is already fixed."""
        if self.origin is None:
            self.origin = first_pts

    @property
    def exhausted(self) -> bool:
        """True once every target has been handed out."""
        return self.next >= self.count

    def tick(self, k: int) -> int:
        """The stream tick target k stands for."""
        return self.origin + math.floor(k * self.step / self.time_base)

    def take_before(self, bound: int) -> list[tuple[int, int]]:
        """Hands out the next targets whose tick is below `bound`: (target, tick) pairs."""
        taken = []
        while not self.exhausted and self.tick(self.next) < bound:
            taken.append((self.next, self.tick(self.next)))
            self.next += 1
        return taken

    def target_s(self, k: int) -> float:
        """Seconds after the first frame that target k stands for."""
        return float(k * self.step)

    def seconds(self, pts: int) -> float:
        """Seconds from the first frame to tick `pts`."""
        return float((pts - self.origin) * self.time_base)


class PlannedTargets:
    """(target, sample pts) pairs from GOP plans, in target order, each waiting for the frame of
    that pts to leave the decoder (which returns frames in presentation order)."""

    def __init__(self):
        self._waiting: collections.deque[tuple[int, int]] = collections.deque()

    def add(self, targets: Iterable[tuple[int, int]]) -> None:
        """Queues a GOP plan's (target, sample pts) pairs, which follow those already queued."""
        self._waiting.extend(targets)

    def settle(self, frame: av.VideoFrame, previous: av.VideoFrame | None
               ) -> Iterator[tuple[int, av.VideoFrame, bool]]:
        """(target, chosen frame, substituted) for each target `frame` settles. A target whose
        pts is already behind `frame` never got its own frame out of the decoder (its packet
        failed or held no picture): it takes `previous`, the frame before (else `frame`)."""
        pts = frame.pts
        while self._waiting and pts is not None and self._waiting[0][1] < pts:
            k, _ = self._waiting.popleft()
            yield k, previous if previous is not None else frame, True
        while self._waiting and self._waiting[0][1] == pts:
            k, _ = self._waiting.popleft()
            yield k, frame, False

    def drain(self) -> Iterator[int]:
        """The targets still waiting, oldest first, each removed as it is yielded."""
        while self._waiting:
            k, _ = self._waiting.popleft()
            yield k


class SequentialTargets:
    """Targets settled from frames decoded in presentation order, with nothing buffered: target
    k takes the last frame whose pts <= its tick, known once a later frame comes out (or the
    stream ends). A target before the first frame takes that first frame. Takes its targets from
    `clock` (advancing clock.next) as they are settled."""

    def __init__(self, clock: TargetClock):
        self.clock = clock
        self.held: av.VideoFrame | None = None  # the latest frame so far

    @property
    def done(self) -> bool:
        """True once every target is settled."""
        return self.clock.exhausted

    def take(self, frame: av.VideoFrame) -> Iterator[tuple[int, av.VideoFrame]]:
        """(target, frame) pairs that `frame` (the next one out of the decoder) settles."""
        if frame.pts is None:
            return
        clock = self.clock
        while not clock.exhausted and frame.pts > clock.tick(clock.next):
            yield clock.next, self.held if self.held is not None else frame
            clock.next += 1
        self.held = frame

    def finish(self, end_tick: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """At the end of the stream: targets before `end_tick` take the last frame."""
        clock = self.clock
        while not clock.exhausted and self.held is not None and clock.tick(clock.next) < end_tick:
            yield clock.next, self.held
            clock.next += 1
