"""Mounts as EFS judges them (at connection time), through the Python API and the control
endpoint, and the AWS/EFS ClientConnections metric the emulator publishes for them."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from controller.emulator.efs_mounts import MountRefused
from tests.emulator.helpers import wait_for

WORKER = "arn:aws:iam::123456789012:role/worker"
DENY_WRITE = {"Sid": "Fence", "Effect": "Deny", "Principal": {"AWS": "*"},
              "Action": ["elasticfilesystem:ClientWrite"], "Resource": "*"}


@pytest.fixture
def mounted_fs(client, network) -> str:
    """A file system with an available mount target (no security group rules needed:
    the API's clients name no groups)."""
    efs, ec2 = client("efs"), client("ec2")
    group = ec2.create_security_group(GroupName="nfs", Description="nfs",
                                      VpcId=network.vpc_id)["GroupId"]
    fs = efs.create_file_system(CreationToken="shared")["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs, SubnetId=network.subnet_ids[0],
                            SecurityGroups=[group])
    return str(fs)


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _connections(client, fs: str) -> dict[str, float]:
    """Every data point of the last ten minutes, summarised: how many, their sum, the
    smallest and the largest value (CloudWatch gives statistics, not raw points)."""
    now = datetime.now(UTC)
    points = client("cloudwatch").get_metric_statistics(
        Namespace="AWS/EFS", MetricName="ClientConnections",
        Dimensions=[{"Name": "FileSystemId", "Value": fs}],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
        Period=3600, Statistics=["SampleCount", "Sum", "Minimum", "Maximum"])["Datapoints"]
    if not points:
        return {}
    (point,) = points
    return {k: point[k] for k in ("SampleCount", "Sum", "Minimum", "Maximum")}


def test_a_file_system_without_mount_targets_cannot_be_mounted(aws, client):
    fs = client("efs").create_file_system(CreationToken="bare")["FileSystemId"]
    with pytest.raises(MountRefused, match="no available mount target"):
        aws.mount(fs)
    with pytest.raises(MountRefused, match="was not found"):
        aws.mount("fs-0123456789abcdef0")


def test_the_policy_is_judged_when_a_client_connects_and_not_afterwards(aws, client, mounted_fs):
    efs = client("efs")
    before = aws.mount(mounted_fs, client_id="worker-before")
    efs.put_file_system_policy(FileSystemId=mounted_fs, Policy=_policy(DENY_WRITE))
    with pytest.raises(MountRefused, match="denies elasticfilesystem:ClientWrite"):
        aws.mount(mounted_fs)
    with pytest.raises(MountRefused, match="denies elasticfilesystem:ClientWrite"):
        aws.mount(mounted_fs, principal=WORKER)
    # Read-only: anonymous clients lost EFS's default access to a policy with no Allow;
    # an IAM-authorized client is stopped by nothing but the Deny of writes.
    with pytest.raises(MountRefused, match="does not allow elasticfilesystem:ClientMount"):
        aws.mount(mounted_fs, read_only=True)
    reader = aws.mount(mounted_fs, principal=WORKER, read_only=True)
    assert sorted(m["client_id"] for m in aws.mounts()) == sorted([before, reader])
    efs.delete_file_system_policy(FileSystemId=mounted_fs)
    aws.mount(mounted_fs, client_id="worker-after")
    assert aws.unmount(before) == 1 and aws.unmount("nobody") == 0
    assert before not in {m["client_id"] for m in aws.mounts()}


def test_a_worker_in_a_subnet_needs_a_mount_target_there_that_lets_it_in(aws, client, network,
                                                                        mounted_fs):
    ec2 = client("ec2")
    task_group = ec2.create_security_group(GroupName="task", Description="worker",
                                           VpcId=network.vpc_id)["GroupId"]
    with pytest.raises(MountRefused, match="no mount target in subnet"):
        aws.mount(mounted_fs, subnet_ids=[network.subnet_ids[1]])
    with pytest.raises(MountRefused, match=r"do not allow NFS \(TCP 2049\)"):
        aws.mount(mounted_fs, subnet_ids=[network.subnet_ids[0]], security_groups=[task_group])
    target = client("efs").describe_mount_targets(FileSystemId=mounted_fs)["MountTargets"][0]
    (nfs,) = client("efs").describe_mount_target_security_groups(
        MountTargetId=target["MountTargetId"])["SecurityGroups"]
    ec2.authorize_security_group_ingress(GroupId=nfs, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
        "UserIdGroupPairs": [{"GroupId": task_group}]}])
    aws.mount(mounted_fs, subnet_ids=[network.subnet_ids[0]], security_groups=[task_group])


def test_mounts_through_the_control_endpoint(aws, client, mounted_fs):
    url = f"{aws.endpoint_url}/_emulator/mounts"
    made = requests.post(url, json={"file_system_id": mounted_fs, "region": "us-east-1",
                                    "client_id": "copy-task"}, timeout=5)
    assert made.status_code == 200 and made.json() == {"client_id": "copy-task"}
    listed = requests.get(url, timeout=5).json()["mounts"]
    assert [(m["client_id"], m["file_system_id"]) for m in listed] == [("copy-task",
                                                                        mounted_fs)]
    client("efs").put_file_system_policy(FileSystemId=mounted_fs, Policy=_policy(DENY_WRITE))
    refused = requests.post(url, json={"file_system_id": mounted_fs}, timeout=5)
    assert refused.status_code == 403 and "ClientWrite" in refused.json()["error"]
    assert requests.delete(f"{url}/copy-task", timeout=5).json() == {"unmounted": 1}
    assert requests.delete(f"{url}/copy-task", timeout=5).status_code == 404
    assert requests.get(url, timeout=5).json() == {"mounts": []}


def test_client_connections_are_published_on_every_change_and_nothing_while_idle(
        aws, client, mounted_fs):
    assert _connections(client, mounted_fs) == {}
    first = aws.mount(mounted_fs)
    second = aws.mount(mounted_fs)
    aws.unmount(first)
    aws.unmount(second)
    # 1, 2, 1, then 0: four points
    published = {"SampleCount": 4.0, "Sum": 4.0, "Minimum": 0.0, "Maximum": 2.0}
    assert _connections(client, mounted_fs) == published
    time.sleep(0.6)  # the publisher ticks meanwhile: idle, it adds nothing
    aws.publish_client_connections()
    assert _connections(client, mounted_fs) == published


def test_client_connections_are_republished_while_clients_stay(aws, client, mounted_fs):
    aws.set_client_connections_interval(0.2)
    aws.mount(mounted_fs, client_id="long-job")
    wait_for(lambda: _connections(client, mounted_fs)["SampleCount"] >= 3, True, timeout=5)
    assert _connections(client, mounted_fs)["Minimum"] == 1.0
    aws.unmount("long-job")
    published = _connections(client, mounted_fs)
    assert published["Minimum"] == 0.0  # the change down to 0 is a data point
    time.sleep(0.6)
    assert _connections(client, mounted_fs) == published


def test_an_apps_connection_counts_from_in_service_to_deleted(aws, client, network, mounted_fs):
    """Studio apps connect on the transition clock: the publisher catches the moments."""
    sagemaker, efs, ec2 = client("sagemaker"), client("efs"), client("ec2")
    target = efs.describe_mount_targets(FileSystemId=mounted_fs)["MountTargets"][0]
    (group,) = efs.describe_mount_target_security_groups(
        MountTargetId=target["MountTargetId"])["SecurityGroups"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
        "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    settings = {"ExecutionRole": "arn:aws:iam::123456789012:role/studio",
                "CustomFileSystemConfigs": [{"EFSFileSystemConfig": {
                    "FileSystemId": mounted_fs, "FileSystemPath": "/"}}]}
    network_one_subnet = {"VpcId": network.vpc_id, "SubnetIds": network.subnet_ids[:1]}
    domain_id = sagemaker.create_domain(DomainName="one", AuthMode="IAM",
                                        DefaultUserSettings=settings,
                                        **network_one_subnet)["DomainId"]
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    # Long enough that a loaded machine (the suite runs on several workers) still looks
    # before the app is in service: at 0.3 s the check below lost that race.
    aws.set_transition_seconds(2.0)
    sagemaker.create_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    assert aws.mounts() == [], "Pending: not connected yet"
    wait_for(lambda: _connections(client, mounted_fs).get("Maximum"), 1.0, timeout=15)
    sagemaker.delete_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterLab",
                         AppName="default")
    wait_for(lambda: _connections(client, mounted_fs),
             {"SampleCount": 2.0, "Sum": 1.0, "Minimum": 0.0, "Maximum": 1.0}, timeout=15)


def test_the_connection_interval_is_a_control_setting(aws):
    url = f"{aws.endpoint_url}/_emulator/config"
    answer = requests.post(url, json={"client_connections_interval_seconds": 5}, timeout=5)
    assert answer.json()["client_connections_interval_seconds"] == 5
    aws.reset()
    assert requests.get(url, timeout=5).json()["client_connections_interval_seconds"] == 60
