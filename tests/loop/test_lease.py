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
    first.reconciler.snapshots.wait(timeout=120)  # its first snapshots, taken
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
    # The rest of the estate's 20 actions, its notebook instance, and the snapshot
    # policy's first slot.
    assert len(result.plan.actions) == 19, "the new leader does the rest"


class _StopAfter(ManualClock):
    """Stops `controller` once `seconds` have passed, or after `sleeps` sleeps at most."""

    def __init__(self, seconds: float, sleeps: int) -> None:
        super().__init__()
        self.start, self.seconds, self.sleeps_left = self.now(), seconds, sleeps
        self.controller: Controller | None = None

    def sleep(self, seconds, wake=None) -> None:
        super().sleep(seconds, wake)
        self.sleeps_left -= 1
        if self.now() - self.start >= self.seconds or self.sleeps_left <= 0:
            assert self.controller is not None
            self.controller.stop()


def test_a_standby_replica_tries_the_lease_at_a_fraction_of_its_duration_and_is_ready(aws):
    prepared(aws, load_desired_state(EXAMPLE))
    clock = _StopAfter(seconds=120, sleeps=400)
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    # The leader holds for the whole test without renewing: only the standby calls AWS.
    leader = Lease(gateway, REGION, TABLE, clock, "leader", duration_seconds=3600)
    reconciler(aws, clock)  # makes the status table
    assert leader.hold()
    standing_by: list[float] = []
    standby = Controller(FolderSource(EXAMPLE), reconciler(aws, clock), clock,
                         Timing(resync_seconds=300, poll_seconds=300),
                         lease=lease(aws, clock, "standby"),
                         on_standby=lambda: standing_by.append(clock.now()))
    clock.controller = standby
    aws.reset_request_counts()
    standby.run()

    assert clock.now() - clock.start >= 120, (
        f"only {clock.now() - clock.start:.1f} s passed in 400 turns of the loop: it spins")
    counts = aws.request_counts()
    attempts = counts.get("dynamodb:PutItem", 0)
    # A 30 s lease is tried every 10 s: about 12 attempts in 120 s, each a conditional
    # put and a read of who holds it; the revision is recorded once.
    assert 10 <= attempts <= 15, counts
    assert counts.get("dynamodb:GetItem", 0) <= 14, counts
    assert sum(n for op, n in counts.items() if not op.startswith("dynamodb:")) == 0, (
        "a standby makes no other AWS call", counts)
    assert standing_by, "the standby said it stands by (ready)"
    assert standby.reconciler.status is not None


def test_a_replica_that_cannot_reach_the_lease_table_backs_off_the_same_way(aws):
    prepared(aws, load_desired_state(EXAMPLE))
    clock = _StopAfter(seconds=120, sleeps=400)
    reconciler(aws, clock)  # makes the status table
    standby = Controller(FolderSource(EXAMPLE), reconciler(aws, clock), clock,
                         Timing(resync_seconds=300, poll_seconds=300),
                         lease=lease(aws, clock, "cut-off"))
    clock.controller = standby
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("5xx", "throttle"), operations={"PutItem"}, seed=7)
    standby.run()

    assert clock.now() - clock.start >= 120, "no hot loop while the table fails either"
    puts = aws.request_counts().get("dynamodb:PutItem", 0)
    # A turn of the loop every 10 s: 13 in 120 s, each a lease try (2 attempts with the
    # lease's client) and another go at recording the revision (3 with the reconciler's).
    assert puts <= 13 * (2 + 3), aws.request_counts()
    assert standby.reconciler.lease_check is not None and not standby.lease.held


def test_a_leader_that_cannot_renew_retries_in_steps_then_stands_by(aws):
    prepared(aws, load_desired_state(EXAMPLE))
    clock = _StopAfter(seconds=60, sleeps=400)
    leader = controller(aws, clock, "leader")
    assert leader.tick() is not None and leader.lease is not None and leader.lease.held
    leader.reconciler.snapshots.wait(timeout=120)  # their records are PutItems too
    clock.controller = leader
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"PutItem"}, seed=1)
    leader.run()

    assert clock.now() - clock.start >= 60, "no hot loop while renewals fail"
    assert not leader.lease.held, "it stood down once the margin was reached"
    # Renewal is due at 15 s; tries every 3 s until the lease is no longer safely held
    # (20 s), then every 10 s standing by: about 7 tries of 2 attempts each.
    assert aws.request_counts().get("dynamodb:PutItem", 0) <= 2 * 10, aws.request_counts()
