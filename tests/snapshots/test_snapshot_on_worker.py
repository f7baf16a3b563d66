"""A snapshot of a file system the controller does not mount is taken on a worker task
where it is mounted: the archive, the manifest last, the job's end recorded as for one
taken in the controller; a worker whose upload fails aborts it and the job is recorded
Failed. Against the emulator, with real folders."""

from __future__ import annotations

import os

import boto3

from controller.snapshots.manifest import MANIFEST_NAME, Manifest
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
from tests.snapshots.helpers import compare_trees, generate_tree
from tests.snapshots.test_controller import BUCKET, PREFIX
from tests.snapshots.test_restore_on_worker import (
    daily_estate,
    estate_workers,
    unmounted_reconciler,
)


def _converged(aws, tmp_path):
    _estate, desired, clock, rec, fs, alice = daily_estate(aws, tmp_path)
    rec.snapshots.stop()
    generate_tree(alice / "work", files=150, mib=3)
    (tmp_path / "nothing-mounted").mkdir()
    remote = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                                  estate_workers(aws, fs))
    clock.advance(86400)  # the next day's slot, taken by a controller that mounts nothing
    return desired, remote, alice


def _manifests(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted(o["Key"] for o in listed if o["Key"].endswith(MANIFEST_NAME))


def test_a_snapshot_of_an_unmounted_file_system_is_taken_on_a_worker_exactly(aws, tmp_path):
    desired, remote, alice = _converged(aws, tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    before = _manifests(s3)
    actions = {a.name for a in remote.reconcile(desired).plan.actions}
    assert "TakeSnapshots" in actions
    remote.snapshots.wait(timeout=300)
    record = remote.status.store.get_item("snapshotpolicy#nightly")
    assert {job["phase"] for job in record["jobs"].values()} == {"Complete"}, record
    assert len(aws.worker_tasks()) == 2, "one worker per home (alice, bob)"
    made = sorted(set(_manifests(s3)) - set(before))
    assert len(made) == 2, made
    (alices,) = [k for k in made if "/research/alice/" in k]
    manifest = Manifest.from_json(s3.get_object(Bucket=BUCKET, Key=alices)["Body"].read())
    assert manifest.counts["files"] >= 100
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    # Restored here with owners kept: exactly alice's home.
    out = tmp_path / "restored"
    out.mkdir()
    target = open_target(str(tmp_path), ["restored"])
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    try:
        report = restore_snapshot(s3, kms, manifest, target, OwnerPolicy(),
                                  set_owner=os.geteuid() == 0)
    finally:
        os.close(target)
    assert compare_trees(alice, out / report.placed_in) == []


def test_a_worker_whose_upload_fails_aborts_it_and_the_job_is_recorded_failed(aws, tmp_path):
    desired, remote, _ = _converged(aws, tmp_path)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    before = _manifests(s3)
    aws.set_faults(rate=1.0, kinds=("5xx",), operations={"s3:UploadPart"})
    try:
        remote.reconcile(desired)
        remote.snapshots.wait(timeout=300)
    finally:
        aws.clear_faults()
    record = remote.status.store.get_item("snapshotpolicy#nightly")
    jobs = record["jobs"]
    assert jobs["home/research/alice/home"]["phase"] == "Failed", jobs
    assert "UploadPart" in jobs["home/research/alice/home"]["message"] or \
        "InternalError" in jobs["home/research/alice/home"]["message"], jobs
    assert _manifests(s3) == before, "nothing listed"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == [], \
        "the worker aborted its upload"
