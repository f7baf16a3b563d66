"""A `studioctl run` killed with SIGKILL in the middle of uploading snapshots: after a
restart, no incomplete snapshot is listed and, after the next pass, no multipart upload
is left open; the snapshots of that slot are taken again and complete.

The controller is a real process. Its uploads are held by an emulator fault (every
UploadPart hangs), it is killed once it is inside one: no cleanup runs. The restart is
a fresh controller reading the same status table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.snapshots.manifest import MANIFEST_NAME
from tests.converge.helpers import prepared, reconciler
from tests.failover.test_kill9 import hangs_in, kill_when

REPO = Path(__file__).resolve().parents[2]


def test_a_controller_killed_mid_upload_leaves_nothing_listed_and_nothing_open(aws, tmp_path):
    estate = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", estate)
    desired = prepared(aws, load_desired_state(estate))
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    bucket = desired.snapshot_policies["nightly"].buckets["us-east-1"]

    kill_when(aws, tmp_path, "us-east-1", estate, hangs_in(aws, "s3:UploadPart"),
              timeout=120)
    left = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert left, "the killed controller was uploading"
    listed = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "snapshot", "list", "--desired",
         str(estate), "--endpoint-url", aws.endpoint_url, "--output", "json"],
        cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(listed.stdout) == [], "an upload without its manifest is not listed"

    restarted = reconciler(aws, ManualClock(time.time()))
    first = restarted.reconcile(desired)
    names = [a.name for a in first.plan.actions]
    assert "AbortSnapshotUploads" in names and "TakeSnapshots" in names, names
    restarted.snapshots.wait(timeout=120)
    open_now = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert not {u["UploadId"] for u in left} & {u["UploadId"] for u in open_now}
    restarted.reconcile(desired)
    restarted.snapshots.wait(timeout=120)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    manifests = {k for k in keys if k.endswith(MANIFEST_NAME)}
    homes = {f"/home/{p.domain}/{p.name}/" for p in desired.profiles.values()}
    assert {h for h in homes if any(h in k for k in manifests)} == homes, (
        "every home's snapshot of the slot was taken again")
    for key in keys - manifests:
        assert key.rsplit("/", 1)[0] + "/" + MANIFEST_NAME in manifests, key
    record = restarted.status.store.get_item("snapshotpolicy#nightly")
    assert {job["phase"] for job in record["jobs"].values()} == {"Complete"}
    restarted.snapshots.stop()
