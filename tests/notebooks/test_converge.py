"""A declared notebook instance converges, and in-place updates respect its status: AWS
updates only a Stopped instance, so the operator stops it (and starts it again) only when
the spec says so, and otherwise waits for its user."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.notebooks.spec import NOTEBOOK_TAG, RESTART_TAG
from tests.converge.helpers import prepared, reconciler
from tests.notebooks.helpers import (
    NAME,
    actions_of,
    describe,
    estate_with_notebook,
    passes_until_settled,
    sagemaker,
    settle,
    tags,
)


@pytest.fixture
def running(aws: Emulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The example estate converged: its notebook instance InService."""
    desired = prepared(aws, load_desired_state(estate_with_notebook(tmp_path / "v1")))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    passes_until_settled(rec, desired, clock, aws)
    assert settle(aws) == "InService"
    return rec, clock


def test_a_declared_notebook_instance_is_created_as_declared_and_then_left_alone(
        aws: Emulator, tmp_path: Path) -> None:
    desired = prepared(aws, load_desired_state(estate_with_notebook(tmp_path / "estate")))
    clock = ManualClock()
    rec = reconciler(aws, clock)

    results = passes_until_settled(rec, desired, clock, aws)

    assert actions_of(results) == ["CreateNotebookInstance"]
    described = describe(aws)
    assert described["NotebookInstanceStatus"] == "InService"
    assert (described["InstanceType"], described["PlatformIdentifier"],
            described["VolumeSizeInGB"], described["RootAccess"],
            described["DirectInternetAccess"]) == (
        "ml.t3.medium", "notebook-al2-v3", 5, "Disabled", "Disabled")
    assert described["SubnetId"].startswith("subnet-")
    assert described["RoleArn"].endswith(":role/studio-execution-role")
    assert tags(aws)["team"] == "research" and tags(aws)[NOTEBOOK_TAG] == NAME
    status = rec.status.current[f"NotebookInstance#{NAME}"]
    assert any(c.type == "Ready" and c.status == "True" for c in status.conditions)


def test_an_update_waits_for_the_user_to_stop_the_instance_when_not_told_to_stop_it(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, clock = running
    larger = load_desired_state(estate_with_notebook(tmp_path / "v2",
                                                     instanceType="ml.t3.large"))

    waiting = rec.reconcile(larger)

    assert not [a for a in waiting.plan.actions if a.key.kind == "NotebookInstance"]
    why = dict(waiting.plan.waiting)[f"NotebookInstance/{NAME}"]
    assert "InstanceType 'ml.t3.medium' -> 'ml.t3.large'" in why and "its user" in why
    ready = next(c for c in rec.status.current[f"NotebookInstance#{NAME}"].conditions
                 if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Waiting")
    assert describe(aws)["NotebookInstanceStatus"] == "InService"

    sagemaker(aws).stop_notebook_instance(NotebookInstanceName=NAME)  # the user
    results = passes_until_settled(rec, larger, clock, aws)

    assert actions_of(results) == ["UpdateNotebookInstance"]
    described = describe(aws)
    # The user had stopped it: it stays stopped.
    assert (described["InstanceType"], described["NotebookInstanceStatus"]) == (
        "ml.t3.large", "Stopped")


def test_an_update_stops_a_running_instance_and_starts_it_again_when_told_to(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, clock = running
    larger = load_desired_state(estate_with_notebook(
        tmp_path / "v2", instanceType="ml.t3.large", volumeSizeInGB="20",
        stopForUpdates="true"))

    results = passes_until_settled(rec, larger, clock, aws)

    assert actions_of(results) == ["StopNotebookInstance", "UpdateNotebookInstance",
                                   "StartNotebookInstance", "TagNotebookInstance"]
    described = describe(aws)
    assert (described["InstanceType"], described["VolumeSizeInGB"],
            described["NotebookInstanceStatus"]) == ("ml.t3.large", 20, "InService")
    assert RESTART_TAG not in tags(aws)


def test_a_stopped_instance_is_started_again_by_a_controller_that_restarted_mid_update(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, clock = running
    larger = load_desired_state(estate_with_notebook(
        tmp_path / "v2", instanceType="ml.t3.large", stopForUpdates="true"))
    first = rec.reconcile(larger)  # stops it; then this controller "dies"
    assert [o.action for o in first.outcomes if o.key.kind == "NotebookInstance"] == [
        "StopNotebookInstance"]

    fresh = reconciler(aws, clock)
    results = passes_until_settled(fresh, larger, clock, aws)

    assert actions_of(results) == ["UpdateNotebookInstance", "StartNotebookInstance",
                                   "TagNotebookInstance"]
    assert describe(aws)["NotebookInstanceStatus"] == "InService"


def test_an_instance_a_user_stopped_is_not_started_by_the_operator(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, clock = running
    sagemaker(aws).stop_notebook_instance(NotebookInstanceName=NAME)
    settle(aws)
    larger = load_desired_state(estate_with_notebook(
        tmp_path / "v2", instanceType="ml.t3.large", stopForUpdates="true"))

    results = passes_until_settled(rec, larger, clock, aws)

    assert actions_of(results) == ["UpdateNotebookInstance"]
    assert describe(aws)["NotebookInstanceStatus"] == "Stopped"


def test_updates_go_through_throttling_and_server_errors(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, clock = running
    folder = estate_with_notebook(tmp_path / "v2", instanceType="ml.t3.large",
                                  stopForUpdates="true")
    notebook = folder / "notebooks.yaml"
    notebook.write_text(notebook.read_text().replace(
        "    team: research\n", "    team: research\n    cost-centre: ml\n"))
    larger = load_desired_state(folder)
    # The calls the actions make (a failed read fails the whole pass instead: the loop's
    # business, tested elsewhere).
    aws.set_faults(0.4, kinds=("throttle", "5xx"), seed=7, operations={
        "sagemaker:StopNotebookInstance", "sagemaker:UpdateNotebookInstance",
        "sagemaker:StartNotebookInstance", "sagemaker:AddTags", "sagemaker:DeleteTags"})

    passes_until_settled(rec, larger, clock, aws, max_passes=40)
    aws.clear_faults()

    described = describe(aws)
    assert (described["InstanceType"], described["NotebookInstanceStatus"]) == (
        "ml.t3.large", "InService")
    assert tags(aws)["cost-centre"] == "ml" and RESTART_TAG not in tags(aws)


def test_a_change_aws_makes_only_at_creation_without_a_backup_policy_is_reported_not_forced(
        aws: Emulator, tmp_path: Path, running) -> None:  # type: ignore[no-untyped-def]
    rec, _clock = running
    moved = load_desired_state(estate_with_notebook(tmp_path / "v2",
                                                    platformIdentifier="notebook-al2023-v1"))

    result = rec.reconcile(moved)

    assert not [a for a in result.plan.actions if a.key.kind == "NotebookInstance"]
    problem = next(p for p in result.plan.problems if p.startswith(f"NotebookInstance/{NAME}"))
    assert "PlatformIdentifier 'notebook-al2-v3' -> 'notebook-al2023-v1'" in problem
    assert "set spec.backup.snapshotPolicy" in problem and not result.plan.migrations
    assert describe(aws)["PlatformIdentifier"] == "notebook-al2-v3"
