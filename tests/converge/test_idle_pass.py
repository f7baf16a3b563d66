"""An idle pass over an unchanged estate is cheap in AWS calls, and still sees drift."""

from __future__ import annotations

from pathlib import Path

from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _describes(rec) -> int:
    return sum(n for (_, op, _), n in rec.gateway.calls.items()
               if op in ("DescribeUserProfile", "DescribeDomain"))


def test_an_idle_pass_describes_nothing_until_the_full_refresh_age(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    rec.cache.max_age_seconds = 600
    rec.reconcile(desired)
    rec.reconcile(desired)  # describes what the first pass created
    rec.gateway.reset_counts()
    assert rec.reconcile(desired).plan.actions == ()
    assert _describes(rec) == 0
    clock.advance(601)
    rec.gateway.reset_counts()
    assert rec.reconcile(desired).plan.actions == ()
    assert _describes(rec) == 2 + 7, "every remembered describe is refreshed after its age"


def test_a_standby_region_looks_only_at_its_own_file_systems(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    reconciler(aws, clock).reconcile(desired)  # the active region replicates
    standby = reconciler(aws, clock, region="us-west-2")
    standby.gateway.reset_counts()
    result = standby.reconcile(desired)
    assert result.plan.role == "standby" and result.plan.actions == ()
    services = {service for (service, _, _) in standby.gateway.calls}
    assert services <= {"efs", "dynamodb"}, services
    regions = {client.meta.region_name for client in standby.gateway._clients.values()}
    assert regions == {"us-west-2"}, "nothing read in the other region"
