"""Converging safely: planted symlinks are not followed, faults do not duplicate or lose
anything, and the estate still converges."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.plan import Kind
from tests.converge.helpers import REGION, plan_now, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _mount(aws, desired) -> Path:
    plan = plan_now(aws, desired)
    fs_id = next(a.params["FileSystemId"] for a in plan.actions if a.key.kind == Kind.DIRECTORY)
    return aws.efs_root / fs_id


def _snapshot(path: Path) -> list[tuple[str, int, int, int]]:
    out = []
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            info = os.lstat(Path(root) / name)
            out.append((str(Path(root) / name), info.st_uid, info.st_gid,
                        stat.S_IMODE(info.st_mode)))
    return sorted(out)


def test_a_symlink_planted_where_a_home_should_be_is_not_followed_and_others_converge(
        aws, tmp_path):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    mount = _mount(aws, desired)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("do not touch")
    os.chmod(victim, 0o750)
    before = _snapshot(victim) + [("victim", *_owner_mode(victim))]
    (mount / "home" / "research").mkdir(parents=True)
    (mount / "home" / "research" / "bob").symlink_to(victim)
    result = reconciler(aws).reconcile(desired)
    assert _snapshot(victim) + [("victim", *_owner_mode(victim))] == before
    assert any("/home/research/bob is a symlink" in p for p in result.plan.problems)
    assert os.path.islink(mount / "home" / "research" / "bob")
    assert all(o.outcome == "ok" for o in result.outcomes)
    assert (mount / "home" / "research" / "alice").is_dir()
    status, _ = reconciler(aws).status.store.load()
    bob = status["Directory#studio-efs:/home/research/bob"]
    ready = next(c for c in bob.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Blocked")


def test_links_a_user_planted_inside_a_domain_share_are_left_alone(aws, tmp_path):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    rec = reconciler(aws)
    rec.reconcile(desired)
    mount = _mount_after_apply(aws)
    victim = tmp_path / "victim"
    victim.mkdir()
    os.chmod(victim, 0o700)
    (mount / "teams" / "research" / "escape").symlink_to(victim)
    os.chmod(mount / "teams" / "research", 0o777)  # drift on the share directory itself
    before = _owner_mode(victim)
    result = rec.reconcile(desired)
    assert [(o.action, str(o.key)) for o in result.outcomes] == [
        ("SetDirectoryOwnership", "Directory/studio-efs:/teams/research")]
    assert _owner_mode(mount / "teams" / "research")[2] == 0o2770
    assert _owner_mode(victim) == before
    assert os.readlink(mount / "teams" / "research" / "escape") == str(victim)


def _mount_after_apply(aws) -> Path:
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    fs = next(f for f in efs.describe_file_systems()["FileSystems"]
              if f.get("Name") == "studio-efs")
    return aws.efs_root / fs["FileSystemId"]


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_under_throttling_and_5xx_the_estate_converges_without_duplicates(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    aws.set_faults(rate=0.3, kinds=("throttle", "5xx"), services={"sagemaker", "efs"}, seed=11)
    clock = ManualClock()
    # one attempt per call: every injected fault reaches the reconciler's own backoff
    rec = reconciler(aws, clock, max_attempts=1, status=False)
    failures_seen = 0
    # About a dozen reads observe a pass, each failing 30% of the time with no retry:
    # most passes fail whole, so it takes many for the few that get through.
    for _ in range(200):
        try:
            result = rec.reconcile(desired)
        except Exception:  # an observation call failed: the pass is retried whole
            failures_seen += 1
            clock.advance(60)
            continue
        failures_seen += sum(1 for o in result.outcomes if o.outcome == "error")
        # Converged: nothing to do, and the other region (the replica) was looked at.
        if not result.plan.actions and not any("could not be read" in n
                                               for n in result.plan.notes):
            break
        rec.queue.pop_ready()
        clock.advance(60)
    aws.clear_faults()
    assert failures_seen > 0, "the faults were injected"
    assert plan_now(aws, desired).actions == ()
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domains = sagemaker.list_domains()["Domains"]
    assert sorted(d["DomainName"] for d in domains) == ["analytics", "research"]
    names = sorted(p["UserProfileName"] for d in domains for p in sagemaker.list_user_profiles(
        DomainIdEquals=d["DomainId"], MaxResults=100)["UserProfiles"])
    assert names == sorted(p.name for p in desired.profiles.values())


def test_a_terminal_error_is_not_retried_in_a_hot_loop_until_the_revision_changes(
        aws, tmp_path):
    from dataclasses import replace

    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    rec.efs_root = tmp_path / "not-mounted"  # the file system is not mounted here
    rec.efs_root.mkdir()
    first = rec.reconcile(desired)
    unmounted = (Kind.DIRECTORY, Kind.SNAPSHOT_POLICY)  # share directories, snapshots
    directories = [o for o in first.outcomes if o.key.kind in unmounted]
    assert directories and {o.outcome for o in directories} == {"terminal"}
    assert all("NotMounted" in o.message for o in directories)
    assert {o.outcome for o in first.outcomes if o.key.kind not in unmounted} == {"ok"}
    for _ in range(3):
        clock.advance(120)
        rec.queue.pop_ready()
        again = rec.reconcile(desired)
        assert {o.outcome for o in again.outcomes} == {"backing_off"}
    status, _ = rec.status.store.load()
    home = status["Directory#studio-efs:/home/research/alice"]
    degraded = next(c for c in home.conditions if c.type == "Degraded")
    assert (degraded.status, degraded.reason) == ("True", "TerminalError")
    retried = rec.reconcile(replace(desired, revision="sha256:newrevision1"))
    assert {o.outcome for o in retried.outcomes} == {"terminal"}, "a new revision retries"
