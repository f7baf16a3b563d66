"""The controller takes snapshots on schedule, cleans up after a kill, keeps what
retention says, and runs a Restore once: against the emulator, with real folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.snapshots.manifest import MANIFEST_NAME, Part
from controller.snapshots.retention import to_remove
from controller.snapshots.s3stream import MultipartWriter
from controller.snapshots.spec import Retention
from controller.snapshots.staging import STAGING_PREFIX, STAGING_SUFFIX
from tests.converge.helpers import converge, file_system, prepared, reconciler
from tests.snapshots.helpers import generate_tree, scan

REPO = Path(__file__).resolve().parents[2]
BUCKET = "studio-snapshots-us-east-1"
PREFIX = "studio-snapshots/nightly/"
DAILY = """
apiVersion: studio-operator.io/v1alpha1
kind: SnapshotPolicy
metadata: {name: nightly}
spec:
  homes: {profiles: [research/alice, research/bob]}
  schedule: {every: 1d}
  retention: {keepLast: 2}
  destination:
    buckets: {us-east-1: studio-snapshots-us-east-1, us-west-2: studio-snapshots-us-west-2}
    prefix: studio-snapshots
  encryption: {type: kms, keyId: alias/studio-snapshots}
"""


@pytest.fixture
def estate(tmp_path):
    folder = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", folder)
    (folder / "snapshots.yaml").write_text(DAILY)
    return folder


def _s3(aws):
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)


def complete(aws) -> list[str]:
    listed = _s3(aws).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted(o["Key"][len(PREFIX):-len(MANIFEST_NAME) - 1] for o in listed
                  if o["Key"].endswith(MANIFEST_NAME))


def open_uploads(aws) -> list[str]:
    return [u["UploadId"] for u in _s3(aws).list_multipart_uploads(
        Bucket=BUCKET, Prefix=PREFIX).get("Uploads", [])]


def run(aws, desired, clock):  # type: ignore[no-untyped-def]
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    rec.snapshots.wait(timeout=120)
    return rec


def test_a_schedule_missed_while_down_is_taken_once(aws, estate):
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    rec = run(aws, desired, clock)
    first = complete(aws)
    assert len(first) == 2, first  # alice's and bob's homes
    rec.snapshots.stop()
    clock.advance(3 * 86400)  # down for three slots
    rec = run(aws, desired, clock)
    assert len(complete(aws)) == 4, "one snapshot per home for the three missed slots"
    again = rec.reconcile(desired)
    assert "TakeSnapshots" not in {a.name for a in again.plan.actions}
    rec.snapshots.stop()


def test_a_controller_killed_mid_upload_leaves_no_snapshot_and_no_open_upload(aws, estate):
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    rec = run(aws, desired, clock)
    before = complete(aws)
    rec.snapshots.stop()
    # What a SIGKILL mid-upload leaves: the next slot's record says Uploading, one part
    # of the archive is in S3, no manifest.
    clock.advance(86400)
    slot = float(int(clock.now() // 86400) * 86400)
    killed_id = "nightly/home/research/alice/home/20270116T000000Z-dead"
    writer = MultipartWriter(_s3(aws), BUCKET, f"studio-snapshots/{killed_id}/archive.tar.zst")
    writer.write(os.urandom(9 << 20))  # one part goes up, then the process "dies"
    writer._pool.shutdown(wait=True)
    assert open_uploads(aws) == [writer.upload_id]
    rec.status.store.put_item({"pk": "snapshotpolicy#nightly", "lastSlot": str(slot), "jobs": {
        "home/research/alice/home": {"phase": "Uploading", "id": killed_id, "attempts": 1},
        "home/research/bob/home": {"phase": "Complete", "attempts": 1}}})
    rec = reconciler(aws, clock)  # the restarted controller
    result = rec.reconcile(desired)
    names = [a.name for a in result.plan.actions]
    assert "AbortSnapshotUploads" in names and "TakeSnapshots" in names
    assert writer.upload_id not in open_uploads(aws)
    rec.snapshots.wait(timeout=120)
    assert open_uploads(aws) == []
    after = complete(aws)
    assert killed_id not in after
    assert len(after) == len(before) + 1, "alice's snapshot of this slot was taken again"
    rec.snapshots.stop()


def test_retention_never_removes_the_last_complete_snapshot():
    keep_one = Retention(keep_last=1)
    assert to_remove([("only", 1.0)], keep_one) == []
    assert to_remove([("old", 1.0), ("new", 2.0)], keep_one) == ["old"]
    assert to_remove([("a", 1.0), ("b", 2.0), ("c", 3.0)],
                     Retention(keep_last=1, daily=0, weekly=0)) == ["b", "a"]
    days = [(f"d{i}", i * 86400.0 + 5) for i in range(10)]
    kept = {s for s, _ in days} - set(to_remove(days, Retention(keep_last=1, daily=3)))
    assert kept == {"d9", "d8", "d7"}
    assert Part(1, 1, "x")  # the manifest type is importable without I/O


def test_retention_prunes_only_older_snapshots_of_this_policy(aws, estate):
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    s3 = _s3(aws)
    s3.put_object(Bucket=BUCKET, Key="someone-else/notes.txt", Body=b"not ours")
    for _ in range(3):
        rec = run(aws, desired, clock)
        rec.snapshots.stop()
        clock.advance(86400)
    rec = run(aws, desired, clock)
    rec.snapshots.stop()
    kept = complete(aws)
    assert len(kept) == 4, kept  # keepLast 2, two homes
    assert s3.get_object(Bucket=BUCKET, Key="someone-else/notes.txt")["Body"].read()


RESTORE = """
apiVersion: studio-operator.io/v1alpha1
kind: Restore
metadata: {name: alice-to-dave}
spec:
  from: {newest: {policy: nightly, profile: research/alice}}
  to: {profile: analytics/dave}
  owners: target
"""


def _restore_until_done(rec, desired, clock) -> dict:  # type: ignore[no-untyped-def]
    """Passes until the Restore is recorded done (its first attempt may wait for the
    snapshot to complete)."""
    for _ in range(6):
        rec.reconcile(desired)
        rec.snapshots.wait(timeout=120)
        record = rec.status.store.get_item("restore#alice-to-dave")
        if record and record.get("phase") in ("Succeeded", "Failed"):
            return record  # type: ignore[no-any-return]
        clock.advance(120)
        rec.queue.pop_ready()
    raise AssertionError(f"the restore did not finish: {record}")


def test_a_restore_to_another_profile_in_another_domain_runs_once(aws, estate):
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)  # the homes exist (and were snapshotted empty)
    rec.snapshots.wait(timeout=120)
    fs = file_system(aws, "us-east-1")["FileSystemId"]  # not the replica's copy
    alice = aws.efs_root / fs / "home/research/alice"
    generate_tree(alice / "work", files=200, mib=4)
    (alice / "notes.txt").write_text("alice's notes")
    clock.advance(86400)  # the next day's slot: taken with her work in it
    converge(rec, desired, clock)
    rec.snapshots.wait(timeout=120)
    # Then the platform team asks for alice's newest snapshot in dave's home.
    (estate / "restore.yaml").write_text(RESTORE)
    desired = load_desired_state(estate)
    record = _restore_until_done(rec, desired, clock)
    assert record["phase"] == "Succeeded", record
    dave = aws.efs_root / fs / "home/analytics/dave"
    (restored,) = [p for p in dave.iterdir() if p.name.startswith("restored-")]
    assert (restored / "notes.txt").read_text() == "alice's notes"
    theirs, ours = scan(alice)[0], scan(restored)[0]
    assert sorted(theirs) == sorted(ours), "every name in alice's home, nothing else"
    assert {r: v[-1] for r, v in theirs.items() if len(v) == 7} == {
        r: v[-1] for r, v in ours.items() if len(v) == 7}, "the same content"
    assert int(record["report"]["files"]) >= 150
    if os.geteuid() == 0:
        posix = desired.profiles["analytics/dave"].posix
        assert {(v[2], v[3]) for v in ours.values()} == {(posix.uid, posix.gid)}
    status = rec.status.store.load()[0]["Restore#alice-to-dave"]
    assert "files" in status.conditions[0].message
    plan = rec.reconcile(desired).plan
    assert "RestoreSnapshot" not in {a.name for a in plan.actions}, "never repeated"
    rec.snapshots.stop()


def test_a_restore_killed_mid_way_is_run_again_and_its_staging_folder_removed(aws, estate):
    (estate / "restore.yaml").write_text(RESTORE)
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(1_800_000_000.0)
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    rec.snapshots.wait(timeout=120)
    _restore_until_done(rec, desired, clock)
    rec.snapshots.stop()
    fs = file_system(aws, "us-east-1")["FileSystemId"]  # not the replica's copy
    dave = aws.efs_root / fs / "home/analytics/dave"
    for done in dave.iterdir():
        shutil.rmtree(done)
    # What a controller killed mid-restore on another host (a replaced task) leaves: the
    # record says Running and names its staging folder, half filled.
    staging = dave / f"{STAGING_PREFIX}0badbeef.12.34.cafe{STAGING_SUFFIX}"
    (staging / "half/way").mkdir(parents=True, mode=0o700)
    (staging / "half/way/part.bin").write_bytes(b"x" * 4096)
    os.chmod(staging, 0o700)
    item = rec.status.store.get_item("restore#alice-to-dave")
    rec.status.store.put_item({**item, "phase": "Running", "staging": {
        "FileSystemId": fs, "Path": "/home/analytics/dave", "Name": staging.name}})
    restarted = reconciler(aws, clock)
    record = _restore_until_done(restarted, desired, clock)
    assert record["phase"] == "Succeeded", record
    assert not os.path.lexists(staging)
    assert [p.name for p in dave.iterdir()] == [record["report"]["placedIn"]]
    restarted.snapshots.stop()
