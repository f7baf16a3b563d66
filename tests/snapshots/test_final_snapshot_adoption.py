"""A pruned profile's final snapshot running on a worker task when its controller stops
is ADOPTED by the controller after it: the recorded worker job runs again as it is (the
same snapshot id, so the same task), its upload is not aborted under it, no attempt is
counted, and the profile is deleted once that one snapshot is complete.

In-process: two controllers on one status table, the first stopped as at SIGTERM or a
lost lease (its job lets go of the worker, which runs on; a SIGKILL leaves the same
record, see test_snapshot_adoption_kill9.py for the scheduled one). The worker is held
inside its first UploadPart by an emulator fault while the first controller stops.
"""

from __future__ import annotations

import os

import boto3

from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
from tests.converge.test_prune import _estate_option, _profiles, _without_bob
from tests.converge.test_prune_snapshot import BUCKET, PRUNE, _manifests
from tests.snapshots.helpers import compare_trees, generate_tree
from tests.snapshots.test_restore_on_worker import (
    daily_estate,
    estate_workers,
    unmounted_reconciler,
)
from tests.snapshots.test_snapshot_adoption import open_uploads, wait_for

PK = "finalsnapshot#research/bob"


def test_a_final_snapshot_whose_controller_stopped_is_adopted_not_taken_again(
        aws, tmp_path):
    estate, _desired, clock, rec, fs, alice = daily_estate(aws, tmp_path)
    rec.snapshots.stop()
    bob = alice.parent / "bob"
    generate_tree(bob / "thesis", files=120, mib=3)
    scheduled = len(_manifests(aws))
    (tmp_path / "nothing-mounted").mkdir()
    settings = estate_workers(aws, fs)
    first = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    _without_bob(estate)
    policy = estate / "snapshots.yaml"  # the daily policy keeps every home, bob's too
    policy.write_text(policy.read_text().replace(
        "homes: {profiles: [research/alice, research/bob]}", "homes: {all: true}"))
    desired = _estate_option(estate, PRUNE)
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={"s3:UploadPart"},
                   timeout_seconds=4)
    for _ in range(30):  # up to the final snapshot's start; its job is not waited for
        result = first.reconcile(desired)
        if ("TakeFinalSnapshot", "ok") in {(o.action, o.outcome) for o in result.outcomes}:
            break
        first.queue.pop_ready()
        clock.advance(60)
    else:
        raise AssertionError("no final snapshot started")
    wait_for(lambda: aws.request_counts().get("s3:UploadPart", 0) >= 1, "bob's worker uploads")
    assert first.snapshots is not None
    first.snapshots.stop()  # lets go of the worker: it runs on
    (held,) = aws.worker_tasks()
    assert held["lastStatus"] == "RUNNING"
    interrupted = first.status.store.get_item(PK)
    assert interrupted["phase"] == "Uploading" and interrupted["attempts"] == 1, interrupted
    (upload,) = open_uploads(aws)

    second = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted", settings)
    steps: list[tuple[str, str]] = []
    for passes in range(40):
        result = second.reconcile(desired)
        if passes == 0:
            assert "AbortSnapshotUploads" not in {a.name for a in result.plan.actions}, (
                "the adopted worker's upload is its own")
            aws.clear_faults()
        assert second.snapshots is not None
        second.snapshots.wait(timeout=300)
        steps += [(o.action, o.outcome) for o in result.outcomes
                  if o.key.name == "research/bob"]
        if ("DeleteUserProfile", "ok") in steps:
            break
        second.queue.pop_ready()
        clock.advance(60)
    assert ("TakeFinalSnapshot", "ok") in steps and ("DeleteUserProfile", "ok") in steps
    assert "bob" not in _profiles(aws, "research")
    (task,) = aws.worker_tasks()
    assert task["taskArn"] == held["taskArn"], "adopted, not started again"
    record = second.status.store.get_item(PK)
    assert record["phase"] == "Complete" and record["attempts"] == 1, record
    assert record["ids"] == interrupted["ids"], "the same snapshot"
    made = _manifests(aws)
    assert len(made) == scheduled + 1, "one final snapshot"
    final = made[-1]
    assert final.id == interrupted["ids"][0] and upload["Key"].startswith(
        f"studio-snapshots/{final.id}/")
    assert open_uploads(aws) == []
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
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
    assert final.bucket == BUCKET
