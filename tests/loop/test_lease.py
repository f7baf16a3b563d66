"""Leader election: one replica acts per region; another takes over when the leader's
lease runs out or it stops; a leader that lost its lease stops before its next action."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.errors import LeaseLost
from controller.gateway import AwsGateway
from controller.loop.controller import Controller, Timing
from controller.loop.lease import Lease
from controller.source import FolderSource
from tests.converge.helpers import REGION, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
TABLE = "studio-operator-status"


def lease(aws, clock: ManualClock, holder: str) -> Lease:
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    return Lease(gateway, REGION, TABLE, clock, holder, duration_seconds=30)


def test_one_holder_at_a_time_and_a_lapsed_lease_is_taken_over(aws):
    clock = ManualClock()
    reconciler(aws, clock)  # makes the status table
    a, b = lease(aws, clock, "a"), lease(aws, clock, "b")
    assert a.hold() and a.held
    assert not b.hold() and not b.held
    clock.advance(20)
    assert a.hold(), "the holder renews"
    clock.advance(20)
    assert not b.hold(), "renewed: still a's"
    clock.advance(31)  # a stalled: its lease ran out
    assert b.hold()
    with pytest.raises(LeaseLost):
        a.check()
    assert not a.hold()


def test_a_released_lease_is_taken_at_once(aws):
    clock = ManualClock()
    reconciler(aws, clock)
    a, b = lease(aws, clock, "a"), lease(aws, clock, "b")
    assert a.hold()
    a.release()
    assert b.hold()


def controller(aws, clock: ManualClock, holder: str, held: Lease | None = None) -> Controller:
    return Controller(FolderSource(EXAMPLE), reconciler(aws, clock), clock,
                      Timing(resync_seconds=300, poll_seconds=300),
                      lease=held or lease(aws, clock, holder))


def test_only_the_leader_reconciles_and_a_standby_replica_takes_over_when_it_stops(aws):
    prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    first, second = controller(aws, clock, "first"), controller(aws, clock, "second")
    assert first.tick() is not None
    assert second.tick() is None, "standing by"
    first.stop()
    first.run()  # returns at once (stopping), releasing the lease
    clock.advance(300)
    took_over = second.tick()
    assert took_over is not None and took_over.result == "converged"


def test_a_leader_that_lost_its_lease_mid_pass_stops_before_its_next_action(aws):
    prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    leader = controller(aws, clock, "leader")
    other = lease(aws, clock, "other")
    done: list[str] = []
    check = leader.reconciler.lease_check
    assert check is not None

    def stall_after_three() -> None:
        if len(done) == 3:  # the leader stalls; its lease runs out; another takes it
            clock.advance(45)
            assert other.hold()
        done.append("action")
        check()

    leader.reconciler.lease_check = stall_after_three
    assert leader.tick() is None, "the pass was cut short"
    assert len(done) == 4, "three actions, then the lease was found lost"
    rest = controller(aws, clock, "other", held=other)
    result = rest.tick()
    assert result is not None and result.result == "applied"
    assert len(result.plan.actions) == 17, "the new leader does the rest"
