"""The pieces the sampling pass is built from, on stand-in packets and frames (no video needed):
the target clock, GOP grouping, and the two ways a target gets its frame."""
import fractions
from types import SimpleNamespace

from transforms.decode_plan import GopBuffer, PacketInfo
from transforms.decode_targets import PlannedTargets, SequentialTargets, TargetClock


def frame(pts):
    return SimpleNamespace(pts=pts)


def packet_info(index: int, keyframe: bool, size: int) -> PacketInfo:
    return PacketInfo(packet=SimpleNamespace(size=size), index=index, pts=index, end=index + 1,
                      keyframe=keyframe, ref=True, idr=keyframe)


def indices(gop):
    return None if gop is None else [p.index for p in gop]


def test_clock_hands_out_each_target_once_in_order():
    clock = TargetClock(fractions.Fraction(1, 2), fractions.Fraction(1, 90000), count=3)
    clock.start_at(1000)
    clock.start_at(5000)  # the first GOP fixed the origin already
    assert clock.tick(1) == 1000 + 45000
    assert clock.take_before(46001) == [(0, 1000), (1, 46000)]  # ticks below the bound
    assert clock.take_before(10**9) == [(2, 91000)]
    assert clock.exhausted and clock.take_before(10**9) == []
    assert clock.target_s(2) == 1.0 and clock.seconds(1000 + 9000) == 0.1


def test_gops_are_split_at_keyframes_and_their_bytes_counted():
    gops = GopBuffer()
    for i, key in enumerate([True, False, False, True, False, True]):
        gops.add(packet_info(i, key, size=10 * (i + 1)))
    assert [indices(gop) for gop in gops.complete] == [[0, 1, 2], [3, 4]]
    assert gops.complete_bytes == 10 + 20 + 30 + 40 + 50 and gops.current_bytes == 60
    assert indices(gops.pop_oldest()) == [0, 1, 2]
    assert gops.held_bytes == 40 + 50 + 60
    drained = [(indices(gop), indices(nxt)) for gop, nxt in gops.drain()]
    assert drained == [([3, 4], [5]), ([5], None)]


def test_planned_targets_take_their_frame_or_the_one_before_it():
    planned = PlannedTargets()
    planned.add([(0, 10), (1, 20), (2, 30)])
    before, at_20 = frame(5), frame(20)
    # the frame at pts 10 never came out of the decoder: target 0 takes the frame before it
    assert list(planned.settle(at_20, before)) == [(0, before, True), (1, at_20, False)]
    assert list(planned.drain()) == [2]


def test_sequential_targets_take_the_last_frame_at_or_before_their_tick():
    clock = TargetClock(fractions.Fraction(1), fractions.Fraction(1, 10), count=4)
    clock.start_at(0)  # targets at ticks 0, 10, 20, 30
    targets = SequentialTargets(clock)
    frames = [frame(pts) for pts in (0, 5, 12, 25)]
    settled = [pair for f in frames for pair in targets.take(f)]
    assert settled == [(0, frames[0]), (1, frames[1]), (2, frames[2])]
    assert list(targets.finish(end_tick=31)) == [(3, frames[3])]
    assert targets.done
