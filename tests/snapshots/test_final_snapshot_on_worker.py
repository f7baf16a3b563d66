"""A pruned profile's final snapshot, when its home's file system is not mounted where
the controller runs, is taken on a worker task where it is (not waited for forever):
restorable and exact, before the profile is deleted; a home folder that does not exist
is still "nothing to snapshot" (the worker says so distinctly) and the profile goes.
Against the emulator, with real folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

from controller.desired import load_desired_state
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
from tests.converge.test_prune import _estate_option, _profiles, _without_bob
from tests.converge.test_prune_snapshot import BUCKET, PREFIX, PRUNE, _manifests
from tests.snapshots.helpers import compare_trees, generate_tree
from tests.snapshots.test_restore_on_worker import (
    daily_estate,
    estate_workers,
    unmounted_reconciler,
)

VERIFY = Path("/work/shared/tools/verify.py")


def _pruned_by_a_controller_mounting_nothing(aws, tmp_path, fill):
    estate, _desired, clock, rec, fs, alice = daily_estate(aws, tmp_path)
    rec.snapshots.stop()
    bob = alice.parent / "bob"
    fill(bob)
    scheduled = len(_manifests(aws))
    (tmp_path / "nothing-mounted").mkdir()
    remote = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                                  estate_workers(aws, fs))
    _without_bob(estate)
    policy = estate / "snapshots.yaml"  # the daily policy keeps every home, bob's too
    policy.write_text(policy.read_text().replace(
        "homes: {profiles: [research/alice, research/bob]}", "homes: {all: true}"))
    desired = _estate_option(estate, PRUNE)
    assert load_desired_state(estate).profiles.get("research/bob") is None
    steps: list[tuple[str, str]] = []
    for _ in range(30):  # its directories are not visible here: it never converges
        result = remote.reconcile(desired)
        assert remote.snapshots is not None
        remote.snapshots.wait(timeout=300)
        steps += [(o.action, o.outcome) for o in result.outcomes
                  if o.key.name == "research/bob"]
        if ("DeleteUserProfile", "ok") in steps:
            break
        remote.queue.pop_ready()
        clock.advance(60)
    return remote, desired, bob, scheduled, steps


def test_a_final_snapshot_of_an_unmounted_home_is_taken_on_a_worker(aws, tmp_path):
    remote, desired, bob, scheduled, steps = _pruned_by_a_controller_mounting_nothing(
        aws, tmp_path, lambda home: generate_tree(home / "thesis", files=120, mib=2))
    names = [name for name, _ in steps]
    assert ("TakeFinalSnapshot", "ok") in steps and ("DeleteUserProfile", "ok") in steps
    assert names.index("TakeFinalSnapshot") < names.index("DeleteUserProfile"), steps
    assert "bob" not in _profiles(aws, "research")
    assert len(aws.worker_tasks()) == 1, "one worker: bob's final snapshot"
    made = _manifests(aws)
    assert len(made) == scheduled + 1
    final = made[-1]
    assert final.policy == "nightly" and final.revision == desired.revision
    assert final.counts["files"] >= 100
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert remote.snapshots is not None
    record = remote.status.store.get_item("finalsnapshot#research/bob")
    assert record["phase"] == "Complete" and record["skipped"] == [], record
    # Restorable, and exactly bob's home (the home itself is never removed).
    out = tmp_path / "restored"
    out.mkdir()
    target = open_target(str(tmp_path), ["restored"])
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    try:
        report = restore_snapshot(s3, kms, final, target, OwnerPolicy(),
                                  set_owner=os.geteuid() == 0)
    finally:
        os.close(target)
    assert compare_trees(bob, out / report.placed_in) == []
    if VERIFY.exists():
        verify = subprocess.run([sys.executable, str(VERIFY), str(bob),
                                 str(out / report.placed_in), "--content"],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout[-2000:]
    assert final.id.startswith("nightly/") and PREFIX.endswith("research/bob/")


def test_a_missing_unmounted_home_is_nothing_to_snapshot_and_the_profile_goes(aws, tmp_path):
    remote, _desired, bob, scheduled, steps = _pruned_by_a_controller_mounting_nothing(
        aws, tmp_path, lambda home: shutil.rmtree(home))
    assert ("TakeFinalSnapshot", "ok") in steps and ("DeleteUserProfile", "ok") in steps
    assert "bob" not in _profiles(aws, "research")
    assert len(aws.worker_tasks()) == 1
    assert len(_manifests(aws)) == scheduled
    record = remote.status.store.get_item("finalsnapshot#research/bob")
    assert record["phase"] == "Complete" and record["skipped"] == ["/home/research/bob"], record
    assert remote.history is not None
    (entry,) = [e for e in remote.history.log.entries(profile="research/bob")
                if e.what == "snapshot" and e.result != "ok" and "final" in e.message]
    assert entry.result == "nothing to snapshot"
    assert not bob.exists()
