"""Strategy copy with DataSync configured: the working copy is filled by a DataSync
execution; a real `studioctl run` killed with SIGKILL while it runs leaves it running,
and the restarted controller follows that execution instead of starting a second one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.movers.datasync import DataSyncMover, DataSyncSettings
from tests.converge.helpers import converge, file_system, prepared, reconciler
from tests.failover.test_kill9 import PRIMARY, REPLICA, ROOT, flipped_copy
from tests.snapshots.helpers import compare_trees, generate_tree

pytestmark = pytest.mark.slow


def datasync_config(aws, region: str) -> dict:
    """DataSync reaches the file systems from the estate's own network in the region
    (the subnet and NFS security group the desired state names)."""
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=aws.endpoint_url)
    (subnet,) = ec2.describe_subnets(Filters=[{"Name": "tag:Name",
                                               "Values": ["studio-private-a"]}])["Subnets"]
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name",
                                                      "Values": ["studio-nfs"]}])["SecurityGroups"]
    account = subnet["OwnerId"]
    return {"subnetArn": f"arn:aws:ec2:{region}:{account}:subnet/{subnet['SubnetId']}",
            "securityGroupArns": [
                f"arn:aws:ec2:{region}:{account}:security-group/{group['GroupId']}"]}


def test_a_controller_killed_while_datasync_fills_the_working_copy_adopts_it(aws, tmp_path):
    desired = prepared(aws, load_desired_state(flipped_copy(tmp_path, PRIMARY, "copy")))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    mount = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    generate_tree(mount / "home/research/carol/data", files=1500, mib=8)
    aws.sync_replication()
    config = datasync_config(aws, REPLICA)
    flipped_dir = flipped_copy(tmp_path, REPLICA, "copy")
    aws.reset_request_counts()
    aws.set_transition_seconds(1.5)  # each execution status lasts a while: killed inside

    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "run", "--desired", str(flipped_dir),
         "--region", REPLICA, "--endpoint-url", aws.endpoint_url, "--efs-root",
         str(aws.efs_root), "--metrics-port", "0", "--max-attempts", "3",
         "--resync-seconds", "1", "--lease-seconds", "0", "--workdir", str(tmp_path / "w"),
         "--datasync-config", json.dumps(config)],
        cwd=ROOT, stderr=(tmp_path / "controller.log").open("w"), stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 180
        while aws.request_counts().get("datasync:StartTaskExecution", 0) == 0:
            assert process.poll() is None, "the controller exited early"
            assert time.monotonic() < deadline, "DataSync never started: " + (
                tmp_path / "controller.log").read_text()[-3000:]
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    datasync = boto3.client("datasync", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    (task,) = datasync.list_tasks()["Tasks"]
    assert task["Status"] == "RUNNING", "the execution outlives the controller"

    restarted = reconciler(aws, clock, region=REPLICA)
    settings = DataSyncSettings.from_json(REPLICA, json.dumps(config))
    restarted.datasync_mover = DataSyncMover(restarted.gateway,
                                             replace(settings, poll_seconds=0.1))
    aws.set_transition_seconds(0.05)
    converge(restarted, load_desired_state(flipped_dir), clock)
    assert restarted.failover is not None and restarted.failover.record.phase == "Complete"
    assert aws.request_counts()["datasync:StartTaskExecution"] == 1, "adopted, not restarted"
    assert aws.request_counts()["datasync:CreateTask"] == 1
    working = file_system(aws, REPLICA, "studio-efs-working-copy")["FileSystemId"]
    assert compare_trees(mount / "home/research/carol/data",
                         aws.efs_root / working / "home/research/carol/data") == []
    (execution,) = datasync.list_task_executions(TaskArn=task["TaskArn"])["TaskExecutions"]
    assert execution["Status"] == "SUCCESS"
