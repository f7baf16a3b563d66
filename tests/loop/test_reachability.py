"""The other region is unreachable only after outage-like failures on consecutive passes
for long enough (controller.loop.reachability): a blip, or a refusal, is not an outage."""

from __future__ import annotations

from controller.clock import ManualClock
from controller.loop.reachability import RegionReachability

EAST = "us-east-1"


def test_failures_must_last_long_enough_over_several_passes():
    clock = ManualClock()
    reach = RegionReachability(clock, after_seconds=120, passes=2)
    reach.record(EAST, "unreachable")
    clock.advance(300)
    assert reach.unreachable() == frozenset(), "one pass is not enough, however long ago"
    reach.record(EAST, "unreachable")
    assert reach.unreachable() == {EAST}
    assert reach.down_since(EAST) == clock.now() - 300


def test_many_quick_failures_are_not_yet_an_outage():
    clock = ManualClock()
    reach = RegionReachability(clock, after_seconds=120, passes=2)
    for _ in range(10):
        reach.record(EAST, "unreachable")
        clock.advance(10)
    assert reach.unreachable() == frozenset()
    clock.advance(30)
    assert reach.unreachable() == {EAST}


def test_a_successful_read_or_a_refusal_starts_the_count_again():
    clock = ManualClock()
    reach = RegionReachability(clock, after_seconds=120, passes=2)
    for between in ("ok", "refused"):
        reach.record(EAST, "unreachable")
        clock.advance(100)
        reach.record(EAST, between)
        clock.advance(100)
        reach.record(EAST, "unreachable")
        assert reach.unreachable() == frozenset(), between
        reach.record(EAST, "ok")


def test_a_pass_that_did_not_read_the_region_changes_nothing():
    clock = ManualClock()
    reach = RegionReachability(clock, after_seconds=120, passes=2)
    reach.record(EAST, "unreachable")
    clock.advance(200)
    reach.record(EAST, "")
    assert reach.unreachable() == frozenset()
    reach.record(EAST, "unreachable")
    assert reach.unreachable() == {EAST}
