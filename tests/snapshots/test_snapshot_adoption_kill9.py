"""A real `studioctl run` (nothing mounted, worker tasks configured) killed with SIGKILL
while its scheduled snapshot runs on a worker task: the controller started after it
adopts that worker. One RunTask in all, one complete snapshot of the slot (restorable and
exact), and no multipart upload left open after the next pass.

The estate runs on the real clock (a real process schedules by it): converged with the
policy suspended, then the policy resumed, so the killed controller takes today's slot.
Its worker is held inside its first UploadPart by an emulator fault when it is killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.snapshots.manifest import Manifest
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
from tests.converge import helpers
from tests.converge.helpers import converge, file_system, prepared
from tests.snapshots.helpers import compare_trees, generate_tree
from tests.snapshots.test_controller import BUCKET, REPO
from tests.snapshots.test_restore_on_worker import (
    REGION,
    estate_workers,
    killed_while_its_worker_calls,
    unmounted_reconciler,
)
from tests.snapshots.test_snapshot_adoption import (
    ALICE,
    PK,
    manifests,
    open_uploads,
    run_until_complete,
    s3_client,
)

# A real controller started, killed and followed by another: ~30-60 s under load.
pytestmark = pytest.mark.slow

VERIFY = Path("/work/shared/tools/verify.py")
POLICY = """
apiVersion: studio-operator.io/v1alpha1
kind: SnapshotPolicy
metadata: {name: nightly}
spec:
  homes: {profiles: [research/alice]}
  schedule: {every: 1d}
  retention: {keepLast: 2}
  suspend: %s
  destination:
    buckets: {us-east-1: studio-snapshots-us-east-1, us-west-2: studio-snapshots-us-west-2}
    prefix: studio-snapshots
  encryption: {type: kms, keyId: alias/studio-snapshots}
"""


def test_a_controller_killed_while_its_worker_snapshots_is_followed_by_one_that_adopts_it(
        aws, tmp_path):
    estate = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", estate)
    (estate / "snapshots.yaml").write_text(POLICY % "true")
    desired = prepared(aws, load_desired_state(estate))
    clock = ManualClock(time.time())
    mounting = helpers.reconciler(aws, clock)
    converge(mounting, desired, clock)
    assert mounting.snapshots is not None
    mounting.snapshots.stop()
    fs = file_system(aws, REGION)["FileSystemId"]
    alice = aws.efs_root / fs / "home/research/alice"
    generate_tree(alice / "work", files=150, mib=4)
    (alice / "notes.txt").write_text("alice's notes")
    (estate / "snapshots.yaml").write_text(POLICY % "false")  # today's slot is due

    settings = estate_workers(aws, fs)
    (tmp_path / "nothing-mounted").mkdir()
    killed_while_its_worker_calls(aws, estate, tmp_path, settings, "s3:UploadPart",
                                  "reached its upload")
    aws.clear_faults()
    (running,) = aws.worker_tasks()
    assert running["lastStatus"] == "RUNNING", "killed while its worker snapshots"
    uploads = open_uploads(aws)
    assert len(uploads) == 1, uploads

    desired = load_desired_state(estate)  # the policy resumed, as the killed one read it
    restarted = unmounted_reconciler(aws, ManualClock(time.time()),
                                     tmp_path / "nothing-mounted", settings)
    killed = restarted.status.store.get_item(PK)["jobs"][ALICE]
    assert killed["phase"] == "Uploading" and killed["id"] in uploads[0]["Key"]
    record = run_until_complete(restarted, desired, restarted.clock)  # type: ignore[arg-type]
    (task,) = aws.worker_tasks()
    assert task["taskArn"] == running["taskArn"], "adopted, not started again"
    assert record["jobs"][ALICE]["id"] == killed["id"], "the same snapshot"
    (made,) = [k for k in manifests(aws) if "/research/alice/" in k]
    assert killed["id"] in made, "one complete snapshot of the slot"

    restarted.reconcile(desired)
    assert restarted.snapshots is not None
    restarted.snapshots.wait(timeout=60)
    assert open_uploads(aws) == [], "nothing left open"

    s3 = s3_client(aws)
    manifest = Manifest.from_json(s3.get_object(Bucket=BUCKET, Key=made)["Body"].read())
    out = tmp_path / "restored"
    out.mkdir()
    target = open_target(str(tmp_path), ["restored"])
    kms = boto3.client("kms", region_name=REGION, endpoint_url=aws.endpoint_url)
    try:
        report = restore_snapshot(s3, kms, manifest, target, OwnerPolicy(),
                                  set_owner=os.geteuid() == 0)
    finally:
        os.close(target)
    assert compare_trees(alice, out / report.placed_in) == []
    if VERIFY.exists():
        verify = subprocess.run([sys.executable, str(VERIFY), str(alice),
                                 str(out / report.placed_in), "--content"],
                                capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout[-2000:]
