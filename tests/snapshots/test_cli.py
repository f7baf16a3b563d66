"""`studioctl snapshot list|show|cat` against the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from controller.desired import load_desired_state
from controller.snapshots.manifest import Source
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot
from tests.converge.helpers import prepared

REPO = Path(__file__).resolve().parents[2]


def test_list_show_and_cat_an_encrypted_snapshot(aws, tmp_path):
    import shutil

    import boto3

    desired_dir = tmp_path / "desired"
    shutil.copytree(REPO / "desired_state", desired_dir)
    shutil.copy(REPO / "manifests/examples/snapshotpolicy.yaml", desired_dir / "snapshots.yaml")
    prepared(aws, load_desired_state(desired_dir))
    mount = tmp_path / "fs"
    (mount / "home/research/alice").mkdir(parents=True)
    (mount / "home/research/alice/notes.txt").write_text("hello")
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    request = SnapshotRequest(
        "nightly", "home/research/alice/home",
        Source("home", "studio-efs", "fs", "/home/research/alice", "us-east-1"),
        "studio-snapshots-us-east-1", "studio-snapshots", "20260101T000000Z", "r", 3,
        "alias/studio-snapshots")
    take_snapshot(s3, kms, request, mount)
    cli = [sys.executable, "-m", "controller.cli.main", "snapshot", "--desired",
           str(desired_dir), "--endpoint-url", aws.endpoint_url]
    listed = subprocess.run([*cli, "list"], capture_output=True, text=True, check=True)
    assert listed.stdout.split() == [request.id]
    shown = subprocess.run([*cli, "show", request.id], capture_output=True, text=True,
                           check=True)
    assert '"AES-256-GCM"' in shown.stdout
    tar = subprocess.run([*cli, "cat", request.id], capture_output=True, check=True).stdout
    names = subprocess.run(["tar", "-t"], input=tar, capture_output=True, check=True).stdout
    assert b"./notes.txt" in names.split()
