"""The running controller exports the preflight every --preflight-minutes (not on every
pass): one series per check, the time of the last run, a warning when a check starts
failing (once) with what to do, and nothing left of a target the flag no longer names."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from prometheus_client import REGISTRY

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.logs import configure
from controller.loop.controller import Controller, Timing
from controller.preflight import CHECK_NAMES
from controller.preflight.schedule import PreflightSchedule
from controller.source import FolderSource
from controller.status.store import DEFAULT_TABLE
from tests.converge.helpers import reconciler
from tests.preflight.helpers import EXAMPLE, PRIMARY, STANDBY, ready_estate


def _series(target: str = STANDBY) -> dict[str, float | None]:
    return {check: REGISTRY.get_sample_value("studio_operator_preflight_check",
                                             {"check": check, "target_region": target})
            for check in CHECK_NAMES}


def _quota_reads(aws) -> int:
    return aws.request_counts().get("service-quotas:GetServiceQuota", 0)


def test_the_leader_exports_each_check_every_interval_and_warns_once_when_one_fails(
        aws, capsys):
    configure(json=True)
    estate = ready_estate(aws)
    clock = ManualClock(time.time())  # the standby's lease is judged against this clock
    rec = reconciler(aws, clock)
    schedule = PreflightSchedule(rec.gateway, PRIMARY, DEFAULT_TABLE, clock, 300)
    controller = Controller(FolderSource(EXAMPLE), rec, clock,
                            Timing(resync_seconds=60, poll_seconds=10),
                            preflight=schedule.maybe_run)
    capsys.readouterr()
    aws.reset_request_counts()

    controller.tick()
    assert _series() == dict.fromkeys(CHECK_NAMES, 1.0)
    assert REGISTRY.get_sample_value(
        "studio_operator_preflight_last_run_timestamp_seconds") == clock.now()
    assert _quota_reads(aws) == 2

    # Passes come and go; the preflight waits for its interval.
    for _ in range(4):
        clock.advance(61)
        estate.hold_standby_lease(clock.now())
        assert controller.tick() is not None
    assert _quota_reads(aws) == 2

    estate.client("dynamodb").delete_item(TableName=DEFAULT_TABLE, Key={"pk": {"S": "lease"}})
    clock.advance(61)
    controller.tick()
    assert _quota_reads(aws) == 4
    assert _series()["standby_controller"] == 0.0
    assert {c for c, v in _series().items() if v == 0.0} == {"standby_controller"}
    clock.advance(301)
    controller.tick()
    warnings = [e for e in map(json.loads, capsys.readouterr().err.splitlines())
                if e["event"] == "preflight_check_failing"]
    assert [(w["check"], w["target_region"]) for w in warnings] == [
        ("standby_controller", STANDBY)], "warned once, not at every run"
    assert warnings[0]["remedy"].startswith("start the controller in us-west-2")


def test_a_flip_of_the_flag_leaves_no_series_of_the_old_target(aws):
    ready_estate(aws)
    clock = ManualClock(time.time())
    rec = reconciler(aws, clock)
    schedule = PreflightSchedule(rec.gateway, PRIMARY, DEFAULT_TABLE, clock, 300)
    desired = load_desired_state(EXAMPLE)
    assert schedule.maybe_run(desired) is not None
    assert _series(STANDBY)["replica_exists"] == 1.0
    flipped = replace(desired, estate=replace(desired.estate, active_region=STANDBY))
    clock.advance(300)
    report = schedule.maybe_run(flipped)
    assert report is not None and report.target_region == PRIMARY
    assert set(_series(STANDBY).values()) == {None}
    assert _series(PRIMARY)["replica_exists"] == 0.0, "us-east-1 holds no replica to promote"


def test_zero_minutes_turns_it_off(aws):
    ready_estate(aws)
    clock = ManualClock(time.time())
    rec = reconciler(aws, clock)
    schedule = PreflightSchedule(rec.gateway, PRIMARY, DEFAULT_TABLE, clock, 0)
    assert schedule.maybe_run(load_desired_state(EXAMPLE)) is None
