"""Prune's final snapshot: a pruned profile's home is archived by the snapshot machinery
(same policy, same source id, so retention keeps it and restores find it) before the
profile is deleted; without a policy to keep it, or while it keeps failing, the profile
stays."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.loop.reconciler import Reconciler
from controller.model import DesiredState
from controller.snapshots.manifest import Manifest
from tests.converge.helpers import REGION
from tests.converge.test_prune import (
    _converged_example,
    _estate_option,
    _profiles,
    _without_bob,
)

BUCKET, PREFIX = "studio-snapshots-us-east-1", "studio-snapshots/nightly/home/research/bob/"
PRUNE = "  prune: true\n  safety:\n    maxRemovalPercent: 20\n"


def _s3(aws):
    return boto3.client("s3", region_name=REGION, endpoint_url=aws.endpoint_url)


def _manifests(aws) -> list[Manifest]:
    s3 = _s3(aws)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted((Manifest.from_json(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
                   for o in listed if o["Key"].endswith("/manifest.json")),
                  key=lambda m: m.completed_at)


def _bob_home(aws) -> Path:
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    fs_id = next(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                 if f.get("Name") == "studio-efs")
    return aws.efs_root / fs_id / "home/research/bob"


def _passes(rec: Reconciler, desired: DesiredState, clock: ManualClock,
            limit: int = 30) -> list[tuple[str, str, str]]:
    """(action, resource, outcome) of every pass until one has nothing to do, each pass's
    snapshot jobs finished before the next."""
    done = []
    for _ in range(limit):
        result = rec.reconcile(desired)
        assert rec.snapshots is not None
        rec.snapshots.wait(timeout=120)
        if not result.plan.actions:
            return done
        done += [(o.action, o.key.name, o.outcome) for o in result.outcomes]
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError(f"still acting after {limit} passes: {done[-5:]}")


def test_prune_takes_a_final_snapshot_of_the_home_before_deleting_the_profile(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    home = _bob_home(aws)
    (home / "thesis.tex").write_text("the last version\n" * 100)
    scheduled = len(_manifests(aws))
    _without_bob(folder)
    desired = _estate_option(folder, PRUNE)
    steps = [(name, outcome) for name, key, outcome in _passes(rec, desired, clock)
             if key == "research/bob"]
    names = [name for name, _ in steps]
    assert ("TakeFinalSnapshot", "ok") in steps and ("DeleteUserProfile", "ok") in steps
    assert names.index("TakeFinalSnapshot") < names.index("DeleteUserProfile"), steps
    assert "bob" not in _profiles(aws, "research")
    made = _manifests(aws)
    assert len(made) == scheduled + 1
    final = made[-1]
    assert final.revision == desired.revision and final.policy == "nightly"
    assert final.counts["files"] == 1 and final.bytes_in >= len("the last version\n") * 100
    # Never a file: the home is still there.
    assert (home / "thesis.tex").read_text().startswith("the last version")
    # The converge's scheduled snapshot of bob's home is in his history too.
    entries = [e for e in (rec.history.log.entries(profile="research/bob") if rec.history
                           else []) if e.what != "snapshot" or "final snapshot" in e.message]
    whats = [(e.what, e.result) for e in entries]
    assert whats.index(("snapshot", "ok")) < whats.index(("prune", "ok")), whats
    (snapshot,) = [e for e in entries if e.what == "snapshot"]
    assert (snapshot.files, snapshot.who) == (1, desired.revision)
    assert snapshot.target == f"s3://{BUCKET}/{final.id}"


def test_without_a_snapshot_policy_a_profile_is_not_pruned(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    (folder / "snapshots.yaml").unlink()
    _without_bob(folder)
    desired = _estate_option(folder, PRUNE)
    for _ in range(3):
        result = rec.reconcile(desired)
        clock.advance(60)
    assert any("research/bob: not pruned: no SnapshotPolicy" in p for p in result.plan.problems)
    assert "bob" in _profiles(aws, "research")


def test_a_final_snapshot_that_keeps_failing_holds_the_deletion(aws, tmp_path):
    folder, rec, clock = _converged_example(aws, tmp_path)
    _without_bob(folder)
    desired = _estate_option(folder, PRUNE)
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"s3:CreateMultipartUpload"})
    try:
        problems: tuple[str, ...] = ()
        for _ in range(8):
            result = rec.reconcile(desired)
            _quiet_wait(rec)
            problems = result.plan.problems
            rec.queue.pop_ready()
            clock.advance(60)
    finally:
        aws.clear_faults()
    assert any("research/bob: not pruned: its final snapshot failed 3 times" in p
               for p in problems), problems
    assert "bob" in _profiles(aws, "research")
    failed = [e for e in (rec.history.log.entries(profile="research/bob") if rec.history
                          else []) if e.what == "snapshot" and e.result != "ok"]
    assert [e.result for e in failed] == ["failed"] * 3
    assert json.dumps(failed[0].message)  # the reason is kept


def _quiet_wait(rec: Reconciler) -> None:
    """The jobs of a pass finished; a failed job's exception is expected here."""
    assert rec.snapshots is not None
    with contextlib.suppress(Exception):
        rec.snapshots.wait(timeout=120)
