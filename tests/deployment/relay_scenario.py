"""The deployment scenario's save across regions: two stacks (the primary's and the
replica's), each with its workers (cluster, bucket, security group, access point on its
region's studio file system) as the template makes them, the primary's controller
configured as the template renders STUDIO_OPERATOR_WORKERS with the peer's WorkerConfig
output, and failback's save of a late write from the replica's copy into the primary's
through S3. What it touched (tasks, task definitions, every object key ever written:
the buckets are versioned) is kept for the resource-level checks of the roles.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

from controller.emulator import Emulator
from controller.gateway import AwsGateway
from controller.movers import SaveJob, run_job
from controller.movers.jobs import MoverReport
from controller.movers.regions import RegionalWorkers
from controller.movers.worker_task import WorkerTaskMover, job_id, regional_settings

ACCOUNT = "123456789012"
STACK = "studio-operator"
RELAY_FOLDER = "failback-relay"


@dataclass
class RelayRun:
    report: MoverReport
    job: SaveJob
    names: dict[str, dict[str, str]]           # region -> the stack's rendered names
    bucket_region: dict[str, str]              # bucket -> its region
    tasks: list[dict[str, Any]]                # the relay's worker tasks (DescribeTasks)
    definitions: dict[str, dict[str, Any]]     # taskDefinitionArn -> the definition
    written: dict[str, list[str]] = field(default_factory=dict)  # bucket -> keys put
    left: list[str] = field(default_factory=list)  # keys still under movers/
    controller_requests: Counter[str] = field(default_factory=Counter)
    worker_requests: Counter[str] = field(default_factory=Counter)

    @property
    def relay_prefix(self) -> str:
        return f"movers/relay/{job_id(self.job)}/"


def _sub_of(template: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    if where == "env":
        container = template["Resources"]["TaskDefinition"]["Properties"][
            "ContainerDefinitions"][0]
        entries = [e["Fn::If"][1] if "Fn::If" in e else e for e in container["Environment"]]
        (entry,) = [e for e in entries if e.get("Name") == "STUDIO_OPERATOR_WORKERS"]
        text, variables = entry["Value"]["Fn::Sub"]
    else:
        text, variables = template["Outputs"]["WorkerConfig"]["Value"]["Fn::Sub"]
    return text, variables


def fill(text: str, names: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def worker_security_group(ec2: Any, name: str, vpc: str, nfs_groups: list[str]) -> str:
    """The stack's worker security group, admitted on NFS by the mount targets' groups
    (its NfsFromWorkers ingress rules)."""
    workers = str(ec2.create_security_group(GroupName=name, Description="worker tasks",
                                            VpcId=vpc)["GroupId"])
    for group in nfs_groups:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049,
            "UserIdGroupPairs": [{"GroupId": workers}]}])
    return workers


def _stack_workers(aws: Emulator, region: str, file_system: str) -> dict[str, str]:
    """What one region's stack makes for its workers; its names for rendering."""
    def client(service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name=region, endpoint_url=aws.endpoint_url)
    efs, ec2 = client("efs"), client("ec2")
    (target, *_) = efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"]
    nfs_groups = efs.describe_mount_target_security_groups(
        MountTargetId=target["MountTargetId"])["SecurityGroups"]
    workers = worker_security_group(ec2, "studio-operator-relay-worker", target["VpcId"],
                                    nfs_groups)
    cluster = f"{STACK}-workers-{region}"
    client("ecs").create_cluster(clusterName=cluster)
    bucket = f"{STACK}-movers-{region}"
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}))
    # Versioned, so that every key the relay ever wrote can be read back after clean-up.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    point = efs.create_access_point(FileSystemId=file_system, ClientToken=f"relay-{region}",
                                    PosixUser={"Uid": 0, "Gid": 0},
                                    RootDirectory={"Path": "/"})
    suffix = region.split("-")[1]
    return {
        "AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": ACCOUNT,
        "AWS::StackName": STACK, "ClusterName": cluster, "Cluster": cluster,
        "WorkerSecurityGroup": workers, "WorkerBucketName": bucket,
        "WorkerTaskRole": f"{STACK}-{suffix}-WorkerTaskRole",
        "WorkerTaskRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{suffix}-WorkerTaskRole",
        "TaskExecutionRole": f"{STACK}-{suffix}-Execution",
        "TaskExecutionRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{suffix}-Execution",
        "ContainerImage": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/studio-operator:1.0.0",
        "FileSystemId": file_system, "WorkerAccessPoint": point["AccessPointId"],
        "WorkerAccessPoint.Arn": point["AccessPointArn"], "Subnets": target["SubnetId"],
    }


def _peer(names: dict[str, str], peer: dict[str, str]) -> dict[str, str]:
    """A stack's names with the peer stack's outputs given as its Peer* parameters."""
    return {**names, "OtherRegion": peer["AWS::Region"],
            "PeerWorkerBucketName": peer["WorkerBucketName"],
            "PeerWorkerClusterName": peer["ClusterName"],
            "PeerWorkerTaskRoleName": peer["WorkerTaskRole"],
            "PeerTaskExecutionRoleName": peer["TaskExecutionRole"]}


def controller_worker_config(template: dict[str, Any], home: dict[str, str],
                             away: dict[str, str]) -> str:
    """The home controller's STUDIO_OPERATOR_WORKERS with the away stack's WorkerConfig
    output as PeerWorkerConfig, both rendered from the template."""
    output_text, _ = _sub_of(template, "output")
    env_text, variables = _sub_of(template, "env")
    assert output_text == env_text.replace("${Peer}", ""), "output and env in step"
    (peer_sub,) = [v for v in variables["Peer"]["Fn::If"][1:] if isinstance(v, dict)]
    peer = fill(peer_sub["Fn::Sub"], {"OtherRegion": away["AWS::Region"],
                                      "PeerWorkerConfig": fill(output_text, away)})
    return fill(env_text, {**home, "Peer": peer})


def run_relay(aws: Emulator, template: dict[str, Any], gateway: AwsGateway,
              file_systems: dict[str, str], home: str, away: str) -> RelayRun:
    """Save the away copy's late write into the home copy through S3, as the home
    region's controller (`gateway`) configured by the template."""
    stacks = {r: _stack_workers(aws, r, fs) for r, fs in file_systems.items()}
    names = {home: _peer(stacks[home], stacks[away]), away: _peer(stacks[away], stacks[home])}
    text = controller_worker_config(template, stacks[home], stacks[away])
    movers = [WorkerTaskMover(gateway, replace(s, poll_seconds=0.05, follow_seconds=120.0))
              for s in regional_settings(home, text)]
    assert [m.settings.region for m in movers] == [home, away]
    (aws.efs_root / file_systems[away] / "home/research/alice/after-failback.txt"
     ).write_text("written in the old region before it was fenced")
    tasks_before = {t["taskArn"] for t in aws.worker_tasks()}
    calls_before = _by_operation(gateway.calls)
    aws.reset_request_counts()
    job = SaveJob(file_systems[away], file_systems[home], RELAY_FOLDER)
    report = run_job(job, None, RegionalWorkers(gateway, movers))
    seen = Counter(aws.request_counts())
    by_controller = _by_operation(gateway.calls) - calls_before
    run = RelayRun(report, job, names,
                   {s["WorkerBucketName"]: r for r, s in stacks.items()},
                   [t for t in aws.worker_tasks() if t["taskArn"] not in tasks_before], {},
                   controller_requests=by_controller, worker_requests=seen - by_controller)
    for task in run.tasks:
        region = task["taskArn"].split(":")[3]
        ecs = boto3.client("ecs", region_name=region, endpoint_url=aws.endpoint_url)
        run.definitions[task["taskDefinitionArn"]] = ecs.describe_task_definition(
            taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    for bucket, region in run.bucket_region.items():
        s3 = boto3.client("s3", region_name=region, endpoint_url=aws.endpoint_url)
        versions = s3.list_object_versions(Bucket=bucket, Prefix="movers/")
        run.written[bucket] = sorted({v["Key"] for v in versions.get("Versions", [])})
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="movers/")
        run.left += [item["Key"] for item in listed.get("Contents", [])]
    return run


def _by_operation(calls: Counter[tuple[str, str, str]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for (service, operation, _), count in calls.items():
        summed[f"{service}:{operation}"] += count
    return summed


# --- what the relay touched, held to the roles at resource level ------------------------

Request = tuple[str, str, str, tuple[tuple[str, str], ...]]  # who, action, resource, context


def requests_made(run: RelayRun, home: str) -> list[Request]:
    """Each (role, action, resource, context) the relay's calls needed: the home
    controller's role ("controller") and each region's worker role ("worker:<region>")."""
    made: list[Request] = []
    for task in run.tasks:
        cluster = (("ecs:cluster", task["clusterArn"]),)
        made += [("controller", "ecs:RunTask", task["taskDefinitionArn"], cluster),
                 ("controller", "ecs:TagResource", task["taskArn"],
                  (("ecs:CreateAction", "RunTask"),)),
                 ("controller", "ecs:DescribeTasks", task["taskArn"], cluster),
                 ("controller", "ecs:ListTasks", "*", cluster)]
        definition = run.definitions[task["taskDefinitionArn"]]
        for role in (definition["taskRoleArn"], definition["executionRoleArn"]):
            made.append(("controller", "iam:PassRole", role,
                         (("iam:PassedToService", "ecs-tasks.amazonaws.com"),)))
    for bucket, keys in run.written.items():
        worker = f"worker:{run.bucket_region[bucket]}"
        for key in keys:
            arn = f"arn:aws:s3:::{bucket}/{key}"
            made.append(("controller", "s3:DeleteObject", arn, ()))
            if key.startswith("movers/jobs/"):
                made += [("controller", "s3:PutObject", arn, ()),
                         (worker, "s3:GetObject", arn, ())]
            elif key.startswith("movers/reports/"):
                made += [("controller", "s3:GetObject", arn, ()),
                         (worker, "s3:PutObject", arn, ())]
            else:  # the relay: written by one region's worker, read by the other's
                made += [(f"worker:{r}", action, arn, ())
                         for r in run.names for action in ("s3:GetObject", "s3:PutObject")]
    home_bucket = run.names[home]["WorkerBucketName"]
    made.append(("controller", "s3:ListBucket", f"arn:aws:s3:::{home_bucket}",
                 (("s3:prefix", run.relay_prefix),)))
    for region, names in run.names.items():
        made.append(("controller", "elasticfilesystem:DescribeFileSystems",
                     f"arn:aws:elasticfilesystem:{region}:{ACCOUNT}:file-system/"
                     f"{names['FileSystemId']}", ()))
    return made
