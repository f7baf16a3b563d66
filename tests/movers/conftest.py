"""What a worker task needs in a region, made on the emulator: a network whose mount
targets let the task's security group in, two file systems, an ECS cluster, a bucket."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest

from controller.gateway import AwsGateway
from controller.movers.worker_task import WorkerSettings, WorkerTaskMover

ACCOUNT = "123456789012"


@dataclass
class Region:
    settings: WorkerSettings
    file_systems: list[str]
    efs_root: Path

    def mover(self, aws, **changes) -> WorkerTaskMover:
        return WorkerTaskMover(AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8),
                               replace(self.settings, **changes))


def client(aws, service: str, region: str):
    return boto3.client(service, region_name=region, endpoint_url=aws.endpoint_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def make_region(aws, region: str, file_systems: int = 2, bucket: str | None = None) -> Region:
    ec2, efs = client(aws, "ec2", region), client(aws, "efs", region)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24",
                               AvailabilityZone=f"{region}a")["Subnet"]["SubnetId"]
    task_group = ec2.create_security_group(GroupName="worker", Description="worker task",
                                           VpcId=vpc)["GroupId"]
    nfs = ec2.create_security_group(GroupName="nfs", Description="efs", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=nfs, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
        "UserIdGroupPairs": [{"GroupId": task_group}]}])
    ids = []
    for n in range(file_systems):
        fs = efs.create_file_system(CreationToken=f"movers-{region}-{n}",
                                    Encrypted=True)["FileSystemId"]
        efs.create_mount_target(FileSystemId=fs, SubnetId=subnet, SecurityGroups=[nfs])
        ids.append(fs)
    client(aws, "ecs", region).create_cluster(clusterName="studio-operator")
    bucket = bucket or f"movers-{region}"
    s3 = client(aws, "s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": region})
    settings = WorkerSettings(
        region=region, cluster="studio-operator", subnets=(subnet,),
        security_groups=(task_group,), bucket=bucket,
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/studio-operator-worker",
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/studio-operator-worker-execution",
        image=f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/studio-operator:test",
        poll_seconds=0.05, follow_seconds=120.0)
    return Region(settings, ids, aws.efs_root)


@pytest.fixture
def east(aws) -> Region:
    return make_region(aws, "us-east-1")
