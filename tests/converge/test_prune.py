"""Offboarding: a profile or domain removed from the desired state is reported with prune
off; with prune on it is deleted in order (apps, spaces, profile, then domain), never a
file system, never what someone else made, and never more than the removal guard
allows without a confirmation naming the revision."""

from __future__ import annotations

from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.reconciler import Reconciler
from controller.model import DesiredState
from controller.status.conditions import READY, find
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.desired_state.helpers import edit
from tests.example_estate import copy_example

BOB = """\
---
apiVersion: studio-operator.io/v1alpha1
kind: UserProfile
metadata:
  name: bob
spec:
  domain: research
  posix:
    uid: 200102
    gid: 1001
"""
SAFETY = "  safety:\n    maxRemovalPercent: 10\n"


def _sagemaker(aws):
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)


def _domain_id(aws, name: str) -> str:
    return next(d["DomainId"] for d in _sagemaker(aws).list_domains()["Domains"]
                if d["DomainName"] == name)


def _profiles(aws, domain: str) -> list[str]:
    listed = _sagemaker(aws).list_user_profiles(DomainIdEquals=_domain_id(aws, domain))
    return sorted(p["UserProfileName"] for p in listed["UserProfiles"])


def _converged_example(aws, tmp_path: Path) -> tuple[Path, Reconciler, ManualClock]:
    folder = copy_example(tmp_path / "desired")
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, prepared(aws, load_desired_state(folder)), clock)
    return folder, rec, clock


def _estate_option(folder: Path, text: str) -> DesiredState:
    edit(folder / "estate.yaml", SAFETY, text)
    return load_desired_state(folder)


def _without_bob(folder: Path) -> None:
    edit(folder / "research.yaml", BOB, "")


def _passes(rec: Reconciler, desired: DesiredState, clock: ManualClock,
            limit: int = 20) -> list[list[tuple[str, str]]]:
    """The actions of each pass until one has nothing to do."""
    done = []
    for _ in range(limit):
        result = rec.reconcile(desired)
        if not result.plan.actions:
            return done
        done.append([(o.action, o.key.name) for o in result.outcomes])
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError(f"still acting after {limit} passes: {done[-3:]}")


def test_with_prune_off_a_removed_profile_is_reported_and_left_alone(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _without_bob(folder)
    desired = load_desired_state(folder)
    result = rec.reconcile(desired)
    assert not any(a.name.startswith("Delete") for a in result.plan.actions)
    assert any("no longer in the desired state: research/bob; prune is off" in note
               for note in result.plan.notes)
    assert "bob" in _profiles(aws, "research")
    status = rec.status.current["UserProfile#research/bob"]
    ready = find(status.conditions, READY)
    assert ready is not None and ready.reason == "RemovedFromDesiredState"


def test_the_removal_guard_holds_a_deletion_over_the_limit_until_its_revision_is_confirmed(
        aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _without_bob(folder)
    asking = _estate_option(folder, "  prune: true\n" + SAFETY)
    # 1 of 9 managed profiles and domains is 11%: over the default 10%.
    result = rec.reconcile(asking)
    assert not result.plan.actions and result.plan.held
    assert result.plan.removal is not None and result.plan.removal.held
    assert any(f"confirmRemoval: {asking.revision}" in p for p in result.plan.problems)
    assert "bob" in _profiles(aws, "research")
    assert rec.status.removal_hold().revision == asking.revision
    # A confirmation of that revision, committed later, lets exactly that deletion go.
    edit(folder / "estate.yaml", SAFETY,
         f"  safety:\n    maxRemovalPercent: 10\n    confirmRemoval: \"{asking.revision}\"\n")
    confirmed = load_desired_state(folder)
    assert confirmed.revision != asking.revision
    converge(rec, confirmed, clock)
    assert "bob" not in _profiles(aws, "research")
    assert rec.status.removal_hold() is None


def test_a_confirmation_never_covers_a_larger_deletion_made_after_it(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _without_bob(folder)
    asking = _estate_option(folder, "  prune: true\n" + SAFETY)
    rec.reconcile(asking)
    edit(folder / "estate.yaml", SAFETY,
         f"  safety:\n    maxRemovalPercent: 10\n    confirmRemoval: \"{asking.revision}\"\n")
    edit(folder / "research.yaml", BOB.replace("bob", "carol").replace(
        "200102", "200103").replace("gid: 1001", "gid: 1002"), "")
    larger = load_desired_state(folder)
    result = rec.reconcile(larger)
    assert result.plan.removal is not None and result.plan.removal.held
    assert result.plan.removal.record.revision == larger.revision
    assert _profiles(aws, "research") == ["alice", "bob", "carol"]


def test_prune_deletes_apps_then_spaces_then_the_profile(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    sagemaker, research = _sagemaker(aws), _domain_id(aws, "research")
    sagemaker.create_app(DomainId=research, UserProfileName="bob", AppType="JupyterServer",
                         AppName="default")
    sagemaker.create_space(DomainId=research, SpaceName="bob-notebooks",
                           OwnershipSettings={"OwnerUserProfileName": "bob"},
                           SpaceSharingSettings={"SharingType": "Private"},
                           SpaceSettings={"AppType": "JupyterLab"})
    sagemaker.create_app(DomainId=research, SpaceName="bob-notebooks", AppType="JupyterLab",
                         AppName="default")
    _without_bob(folder)
    desired = _estate_option(folder, "  prune: true\n  safety:\n    maxRemovalPercent: 20\n")
    steps = [name for one in _passes(rec, desired, clock) for name, key in one
             if key.startswith(("research/bob", "research/bob-notebooks"))]
    first = {name: steps.index(name) for name in reversed(steps)}
    assert first["DeleteApp"] < first["DeleteSpace"] < first["DeleteUserProfile"], steps
    assert _profiles(aws, "research") == ["alice", "carol"]
    assert sagemaker.list_spaces(DomainIdEquals=research)["Spaces"] == []
    assert "UserProfile#research/bob" not in rec.status.current
    assert plan_now(aws, desired).actions == ()


def test_prune_deletes_a_removed_domain_after_its_profiles_and_keeps_its_file_system(
        aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    home_efs = _sagemaker(aws).describe_domain(
        DomainId=_domain_id(aws, "analytics"))["HomeEfsFileSystemId"]
    (folder / "analytics.yaml").unlink()
    desired = _estate_option(folder, "  prune: true\n  safety:\n    maxRemovalPercent: 60\n")
    order = [(name, key) for one in _passes(rec, desired, clock) for name, key in one
             if name.startswith("Delete")]
    assert order[-1] == ("DeleteDomain", "analytics")
    assert sorted(key for name, key in order if name == "DeleteUserProfile") == [
        "analytics/dave", "analytics/erin", "analytics/frank", "analytics/grace"]
    names = [d["DomainName"] for d in _sagemaker(aws).list_domains()["Domains"]]
    assert names == ["research"]
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    kept = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    assert home_efs in kept and any(f.get("Name") == "studio-efs" for f in
                                    efs.describe_file_systems()["FileSystems"])


def test_prune_never_deletes_a_profile_someone_else_made(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _sagemaker(aws).create_user_profile(DomainId=_domain_id(aws, "research"),
                                        UserProfileName="visitor")
    desired = _estate_option(folder, "  prune: true\n" + SAFETY)
    converge(rec, desired, clock)
    assert "visitor" in _profiles(aws, "research")
    assert any("not in the desired state (unmanaged, left as they are): visitor" in note
               for note in plan_now(aws, desired).notes)


def test_a_removed_domain_holding_a_profile_someone_else_made_is_not_pruned(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _sagemaker(aws).create_user_profile(DomainId=_domain_id(aws, "analytics"),
                                        UserProfileName="visitor")
    (folder / "analytics.yaml").unlink()
    desired = _estate_option(folder, "  prune: true\n  safety:\n    maxRemovalPercent: 60\n")
    _passes(rec, desired, clock)
    assert _profiles(aws, "analytics") == ["visitor"]
    result = rec.reconcile(desired)
    assert any(p.startswith("Domain/analytics: not pruned: it holds user profiles the "
                            "operator did not make (visitor)") for p in result.plan.problems)
