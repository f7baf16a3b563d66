"""A notebook instance's snapshots, made on the instance by its lifecycle script, are
the operator's snapshots too: `studioctl snapshot list|show|cat` read them, and the
controller's snapshot runner counts them complete under their source, which is what its
retention prunes by."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.snapshots.manifest import Manifest, policy_prefix
from controller.snapshots.runner import SnapshotRunner
from tests.converge.helpers import prepared
from tests.notebooks.conftest import MakeInstance

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "desired_state"
POLICY_BUCKET = "studio-snapshots-us-east-1"  # the example's SnapshotPolicy "nightly"


def studioctl(aws: Emulator, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *args, "--desired", str(EXAMPLE),
         "--endpoint-url", aws.endpoint_url, "--max-attempts", "3"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        timeout=300)


@pytest.mark.slow  # over 40 s on a loaded 2-core machine
def test_studioctl_and_the_runner_list_a_notebook_instances_snapshots(
        aws: Emulator, make_instance: MakeInstance) -> None:
    desired = prepared(aws, load_desired_state(EXAMPLE))
    policy = desired.snapshot_policies["nightly"]
    instance = make_instance(notebook="research-notebook", bucket=POLICY_BUCKET,
                             prefix=policy.prefix, ec2_user="500:500")
    (instance.volume / "analysis.ipynb").write_text('{"cells": []}')
    (instance.volume / "data").mkdir()
    (instance.volume / "data" / "train.csv").write_text("a,b\n1,2\n" * 100)
    for _ in range(2):
        done = instance.run()
        assert done.returncode == 0, done.stderr

    listed = studioctl(aws, "snapshot", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    ids = [row["id"] for row in json.loads(listed.stdout)
           if row["id"].startswith("nightly/notebook/")]
    assert len(ids) == 2 and all(i.startswith("nightly/notebook/research-notebook/")
                                 for i in ids)

    shown = studioctl(aws, "snapshot", "show", ids[-1])
    assert shown.returncode == 0, shown.stderr
    manifest = Manifest.from_json(shown.stdout)
    assert (manifest.source.kind, manifest.source.notebook) == ("notebook", "research-notebook")
    assert manifest.source.owner == "500:500" and manifest.compression == "zstd"
    assert manifest.summary()["notebook"] == "research-notebook"

    # `cat` checks every part's SHA-256 as a restore does, then gives the tar stream.
    cat = studioctl(aws, "snapshot", "cat", ids[-1])
    assert cat.returncode == 0, cat.stderr
    names = subprocess.run(["tar", "-t"], input=cat.stdout, capture_output=True, check=True)
    assert {"./analysis.ipynb", "./data/train.csv"} <= set(names.stdout.decode().split())

    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    complete, uploads, unfinished = SnapshotRunner._list(
        s3, POLICY_BUCKET, policy_prefix(policy.prefix, "nightly"))
    assert sorted(i for i, _ in complete["notebook/research-notebook"]) == sorted(ids)
    assert (uploads, unfinished) == ([], [])


def test_a_notebook_archive_without_its_manifest_is_incomplete_to_the_runner(
        aws: Emulator, make_instance: MakeInstance) -> None:
    desired = prepared(aws, load_desired_state(EXAMPLE))
    policy = desired.snapshot_policies["nightly"]
    instance = make_instance(notebook="research-notebook", bucket=POLICY_BUCKET,
                             prefix=policy.prefix)
    (instance.volume / "notes.txt").write_text("notes\n")
    assert instance.run().returncode == 0
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    prefix = policy_prefix(policy.prefix, "nightly")
    (manifest_key,) = [o["Key"] for o in s3.list_objects_v2(
        Bucket=POLICY_BUCKET, Prefix=prefix + "notebook/")["Contents"]
        if o["Key"].endswith("/manifest.json")]
    s3.delete_object(Bucket=POLICY_BUCKET, Key=manifest_key)  # as if its put had failed
    complete, _, unfinished = SnapshotRunner._list(s3, POLICY_BUCKET, prefix)
    assert "notebook/research-notebook" not in complete
    assert [a.key for a in unfinished] == [manifest_key.replace("manifest.json",
                                                                "archive.tar.zst")]
