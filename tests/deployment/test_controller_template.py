"""The controller's CloudFormation template: it passes cfn-lint, runs `studioctl run` the
way the CLI expects, and its task role grants exactly the AWS API actions the controller
makes, no fewer and no more.

The actions are not listed by hand from the code: a real scenario runs on the emulator
(read the git credentials, converge the primary, change the estate, lead with the lease,
check failover readiness from both regions, fail over to the replica, let the old region
fence itself and save its late writes, replicate back, fail back, move data through a
worker task configured as the stack configures the controller) and the emulator counts
every request the controller made by "service:Operation". Each one must be allowed by the
template's task role; each action the role grants must have been made, or be named below
with the reason it is granted without a request of its own. Optional statements (an
`!If` on a parameter) are checked as granted: the most the role can hold. The worker
task's own requests are held to the worker role the same way.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from controller.cli.main import build_parser
from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator
from controller.emulator.prepare_events import EVENT_PATTERN
from controller.events import QUEUE_NAME
from controller.events.listener import EventInbox, EventListener
from controller.fencing import RECOVERY_ROOT
from controller.git_credentials import SecretCredentials
from controller.loop.lease import Lease
from controller.loop.reconciler import Reconciler
from controller.movers import CopyJob, run_job
from controller.movers.datasync import DataSyncMover, DataSyncSettings
from controller.movers.worker_task import WorkerSettings, WorkerTaskMover
from controller.preflight import PASSABLE_ROLES_ENV, passable_roles, run_preflight
from controller.preflight.region_checks import may_pass
from tests.converge.helpers import converge, prepared, reconciler
from tests.deployment.iam_eval import allows, render
from tests.deployment.relay_scenario import (
    RelayRun,
    requests_made,
    run_relay,
    worker_security_group,
)
from tests.deployment.snapshot_worker_scenario import BUCKET as BUCKET_OF_SNAPSHOTS
from tests.deployment.snapshot_worker_scenario import (
    ArchiveRun,
    run_archive_jobs,
    worker_names,
)
from tests.example_estate import turn_on_space_backup
from tests.notebooks.helpers import passes_until_settled

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "cloudformation" / "studio-operator-controller.yaml"
EXAMPLE = ROOT / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"
# The stack's parameters for roles, as the scenario deploys it: carol's own role is
# under ProfileExecutionRolePath.
ROLE_PARAMETERS = {"StudioExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/studio-execution-role",
                   "ProfileExecutionRolePath": "/studio/", "AWS::Partition": "aws",
                   "AWS::AccountId": ACCOUNT}
PROFILE_ROLE_NAME = "studio-carol"
PROFILE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/studio/{PROFILE_ROLE_NAME}"
# The stack's DataSyncFileSystemRole, as the scenario's stack would name it.
DATASYNC_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/stack-DataSyncFileSystemRole-1"
# The scenario (a module fixture, over a minute) runs once per worker that gets one of its
# tests: `make test` (--dist loadgroup) keeps the module's tests on one worker.
pytestmark = pytest.mark.xdist_group("controller-template-scenario")

# boto3 service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"efs": "elasticfilesystem", "service-quotas": "servicequotas"}
# S3 operations authorized as another action (the Service Authorization Reference's
# "Actions defined by Amazon S3": multipart uploads are PutObject, HEAD of an object is
# GetObject, HEAD of a bucket and listing it are ListBucket, listing its uploads
# ListBucketMultipartUploads).
S3_AUTHORIZED_AS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "HeadObject": "s3:GetObject",
    "DeleteObjects": "s3:DeleteObject",  # a batch delete is authorized per object
}
# SQS authorizes a batch action as its single action (the SQS Developer Guide: "the
# permissions for a batch action are the same as for the corresponding single action").
SQS_AUTHORIZED_AS = {"DeleteMessageBatch": "sqs:DeleteMessage"}

# Granted although no request of their own reaches AWS: AWS authorizes them as part of
# another operation (named here, and the test checks the scenario made it), or they are
# NFS operations of the task's mounts, not API calls.
AUTHORIZED_WITH = {
    # The domain's settings carry the Studio execution role; a notebook instance its role.
    # A worker task definition carries the workers' task and execution roles.
    # A DataSync location carries the stack's DataSync role (FileSystemAccessRoleArn).
    "iam:PassRole": ("sagemaker:CreateDomain", "sagemaker:UpdateDomain",
                     "sagemaker:CreateNotebookInstance", "sagemaker:UpdateNotebookInstance",
                     "ecs:RegisterTaskDefinition", "ecs:RunTask",
                     "datasync:CreateLocationEfs"),
    # Resources are created with the managed-by tag; tag-on-create is authorized as AddTags.
    "sagemaker:AddTags": ("sagemaker:CreateDomain", "sagemaker:CreateUserProfile",
                          "sagemaker:CreateStudioLifecycleConfig"),
    # The first domain of an account makes SageMaker's service-linked role (SageMaker's
    # API permissions reference lists it for CreateDomain).
    "iam:CreateServiceLinkedRole": ("sagemaker:CreateDomain",),
    # EFS makes a mount target's network interface, and changes its groups, as the
    # caller (EFS API reference: CreateMountTarget, ModifyMountTargetSecurityGroups).
    "ec2:CreateNetworkInterface": ("elasticfilesystem:CreateMountTarget",
                                   "datasync:CreateTask"),
    # DataSync makes a task's network interfaces (and deletes them with it) as the caller.
    "ec2:CreateNetworkInterfacePermission": ("datasync:CreateTask",),
    "ec2:DeleteNetworkInterface": ("datasync:DeleteTask",),
    # DataSync locations and tasks are made with the operator's tag (tag on create).
    "datasync:TagResource": ("datasync:CreateLocationEfs", "datasync:CreateTask"),
    "ec2:ModifyNetworkInterfaceAttribute": ("elasticfilesystem:ModifyMountTargetSecurityGroups",),
    # The NFS security group is tagged as it is made (TagSpecifications).
    "ec2:CreateTags": ("ec2:CreateSecurityGroup",),
    # A worker task definition carries the workers' task and execution roles.
    # RunTask tags the worker with its job (tag-on-create: ecs:TagResource).
    "ecs:TagResource": ("ecs:RunTask",),
}
NFS_CLIENT_ACTIONS = ("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite",
                      "elasticfilesystem:ClientRootAccess")
# The metrics sidecar shares the task (and its role): it remote-writes what it scrapes.
SIDECAR_ACTIONS = ("aps:RemoteWrite",)
# The only actions that may be granted on Resource "*": IAM has no resource-level
# permissions for them (SageMaker List* calls, EC2 Describe* calls, the ECR login).
WITHOUT_RESOURCE_LEVEL = frozenset({
    "sagemaker:ListDomains", "sagemaker:ListUserProfiles", "sagemaker:ListApps",
    "sagemaker:ListStudioLifecycleConfigs", "sagemaker:ListSpaces", "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces",
    "cloudwatch:GetMetricStatistics", "ecr:GetAuthorizationToken",
    "servicequotas:GetServiceQuota", "ecs:RegisterTaskDefinition",
    "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitionFamilies",
    "ecs:DeregisterTaskDefinition", "cloudtrail:DescribeTrails",
    "datasync:ListLocations", "datasync:ListTasks", "datasync:ListTaskExecutions",
})
# On "*" with a Condition that scopes them: ListTasks' only resource type is a container
# instance, which Fargate tasks have none of; ecs:cluster names the cluster.
SCOPED_BY_CONDITION = frozenset({"ecs:ListTasks", "datasync:CreateLocationEfs"})

SCRATCH_FILE_SYSTEM = """\
---
# Made by the operator (CreateFileSystem), as `create` and working copies are.
apiVersion: studio-operator.io/v1alpha1
kind: FileSystem
metadata:
  name: scratch
spec:
  regions:
    us-east-1:
      nameTag: studio-scratch
      create: true
"""
# Snapshots: alice's newest restored into dave's home (GetObject, HeadObject, Decrypt),
# and retention down to one, so the next slot prunes the one before (DeleteObject).
RESTORE = """\
apiVersion: studio-operator.io/v1alpha1
kind: Restore
metadata: {name: alice-to-dave}
spec:
  from: {newest: {policy: nightly, profile: research/alice}}
  to: {profile: analytics/dave}
  owners: target
"""


# --- the template, read with CloudFormation's short-form tags -------------------------

class CloudFormationLoader(yaml.SafeLoader):
    """YAML with !Ref, !Sub, !GetAtt, !If, ... read as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)  # noqa: S506


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(value: Any) -> Any:
    """`value` with every Fn::If taken as true (the most the template can grant) and
    AWS::NoValue dropped from lists."""
    if isinstance(value, list):
        return [granted(v) for v in value if v != {"Ref": "AWS::NoValue"}
                and granted(v) != {"Ref": "AWS::NoValue"}]
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            return granted(value["Fn::If"][1])
        return {k: granted(v) for k, v in value.items()}
    return value


def role_statements(template: dict[str, Any], role: str = "TaskRole") -> list[dict[str, Any]]:
    """The role's statements as deployed with every optional part configured (an
    `!If [Condition, statement, AWS::NoValue]` counts as its statement)."""
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in granted(p["PolicyDocument"]["Statement"])]


def granted_actions(statements: Iterable[dict[str, Any]]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}


def is_allowed(statements: Iterable[dict[str, Any]], action: str) -> bool:
    """Whether an Allow statement names `action` (IAM compares actions case-blind)."""
    return any(fnmatch.fnmatch(action.lower(), granted.lower())
               for granted in granted_actions(statements))


# Granted for a step the scenario does not reach (it would need instances' lifecycle
# scripts to run in real time), made and checked against this role where it is: a
# notebook migration's deleteOld.
EXERCISED_ELSEWHERE = {
    "sagemaker:DeleteNotebookInstance": "tests/notebooks/test_migration_kill9.py",
}


def iam_action(request: str) -> str:
    """"efs:DescribeFileSystems" (the emulator's count key) -> its IAM action."""
    service, operation = request.split(":", 1)
    if service == "s3" and operation in S3_AUTHORIZED_AS:
        return S3_AUTHORIZED_AS[operation]
    if service == "sqs" and operation in SQS_AUTHORIZED_AS:
        return SQS_AUTHORIZED_AS[operation]
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def missing_actions(statements: list[dict[str, Any]], made: Iterable[str]) -> list[str]:
    """Actions the controller made that the policy does not allow."""
    return sorted(a for a in set(made) if not is_allowed(statements, a))


def unexplained_grants(statements: list[dict[str, Any]], made: set[str]) -> list[str]:
    """Granted actions neither made in the scenario nor authorized with one that was."""
    explained = (set(made) | set(NFS_CLIENT_ACTIONS) | set(SIDECAR_ACTIONS)
                 | set(EXERCISED_ELSEWHERE))
    explained |= {action for action, triggers in AUTHORIZED_WITH.items()
                  if made & set(triggers)}
    return sorted(granted_actions(statements) - explained)


# --- the scenario ----------------------------------------------------------------------

@dataclass
class Scenario:
    requests: Counter[str]       # "service:Operation" -> count, the controller's only
    gateway_calls: set[str]      # the same, as the controller's own gateways counted them
    saved_late_write: bool
    worker_requests: Counter[str]  # what the worker task itself sent (its own role's)
    worker_moved: bool
    relay: RelayRun              # failback's save across regions through S3
    # Every role the controller gave SageMaker (domains', profiles', notebook instances').
    passed_roles: set[str]
    datasync_moved: bool = False  # DataSync filled two folders of the scratch file system
    datasync_roles: frozenset[str] = frozenset()  # FileSystemAccessRoleArn of its locations
    archive: ArchiveRun | None = None  # a snapshot and a restore on the stack's workers

    @property
    def worker_actions(self) -> set[str]:
        return {iam_action(r) for r in self.worker_requests}

    @property
    def actions(self) -> set[str]:
        return {iam_action(r) for r in self.requests}


def _desired_folders(tmp: Path) -> tuple[Path, Path, Path]:
    """The example estate plus an operator-made file system (v1); then space backup on,
    alice's uid changed (v2: lifecycle configs, UpdateDomain, UpdateUserProfile) and the
    notebook instance made larger and given a backup, stopped for it (its lifecycle config
    created, Stop, Update, Start, tags); then the analytics domain offboarded (v3)."""
    v1 = tmp / "v1"
    shutil.copytree(EXAMPLE, v1)
    (v1 / "scratch.yaml").write_text(SCRATCH_FILE_SYSTEM)
    # analytics names no NFS security group: the operator makes its own in each region.
    analytics = v1 / "analytics.yaml"
    assert analytics.read_text().count("      nfsSecurityGroup: studio-nfs\n") == 2
    analytics.write_text(analytics.read_text().replace("      nfsSecurityGroup: studio-nfs\n",
                                                       ""))
    # carol has an execution role of her own, under the stack's ProfileExecutionRolePath.
    research = v1 / "research.yaml"
    carol = "  posix:\n    uid: 200103\n    gid: 1002\n"
    assert research.read_text().count(carol) == 1
    research.write_text(research.read_text().replace(
        carol, carol + f"  executionRole: {PROFILE_ROLE_NAME}\n"))
    v2 = tmp / "v2"
    shutil.copytree(v1, v2)
    turn_on_space_backup(v2)
    (v2 / "restore.yaml").write_text(RESTORE)
    snapshots = v2 / "snapshots.yaml"
    policy = snapshots.read_text()
    assert "keepLast: 3\n    daily: 7\n    weekly: 4" in policy
    snapshots.write_text(policy.replace("keepLast: 3\n    daily: 7\n    weekly: 4",
                                        "keepLast: 1\n    daily: 0\n    weekly: 0"))
    research = v2 / "research.yaml"
    text = research.read_text()
    assert "uid: 200101" in text
    research.write_text(text.replace("uid: 200101", "uid: 200111"))
    notebook = v2 / "notebooks.yaml"
    text = notebook.read_text()
    assert "instanceType: ml.t3.medium" in text and "stopForUpdates: false" in text
    notebook.write_text(text.replace("instanceType: ml.t3.medium", "instanceType: ml.t3.large")
                        .replace("\n  stopForUpdates: false\n",
                                 "\n  stopForUpdates: true\n  backup: {snapshotPolicy: nightly}\n"))
    # v3: the analytics domain offboarded, with prune on (and the guard opened for it).
    v3 = tmp / "v3"
    shutil.copytree(v2, v3)
    (v3 / "analytics.yaml").unlink()
    (v3 / "restore.yaml").unlink()
    estate = v3 / "estate.yaml"
    assert "  safety:\n    maxRemovalPercent: 10\n" in estate.read_text()
    estate.write_text(estate.read_text().replace(
        "  safety:\n    maxRemovalPercent: 10\n",
        "  prune: true\n  safety:\n    maxRemovalPercent: 100\n"))
    return v1, v2, v3


def _active_in(desired, region: str, suffix: str):  # type: ignore[no-untyped-def]
    return replace(desired, estate=replace(desired.estate, active_region=region),
                   revision=f"{desired.revision}-{suffix}")


def _create_status_tables(aws: Emulator, template: dict[str, Any]) -> str:
    """What the stack makes before the controller starts: the status table, from the
    template's own definition, in both regions."""
    table = template["Resources"]["StatusTable"]["Properties"]
    name = template["Parameters"]["StatusTableName"]["Default"]
    assert table["TableName"] == {"Ref": "StatusTableName"}
    for region in (PRIMARY, REPLICA):
        dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=aws.endpoint_url)
        dynamodb.create_table(TableName=name, AttributeDefinitions=table["AttributeDefinitions"],
                              KeySchema=table["KeySchema"], BillingMode=table["BillingMode"])
    return name


def _domain_id(aws: Emulator, region: str, name: str) -> str:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    return next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                if d["DomainName"] == name)


def _file_system(aws: Emulator, region: str, name: str) -> dict[str, Any]:
    efs = boto3.client("efs", region_name=region, endpoint_url=aws.endpoint_url)
    return next(f for f in efs.describe_file_systems()["FileSystems"] if f.get("Name") == name)


def _start_app(aws: Emulator, region: str, domain: str, user: str) -> None:
    sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == domain)
    sagemaker.create_app(DomainId=domain_id, UserProfileName=user, AppType="JupyterServer",
                         AppName="default")


def _left_over_upload(aws: Emulator, desired) -> None:  # type: ignore[no-untyped-def]
    bucket = desired.snapshot_policies["nightly"].buckets[PRIMARY]
    s3 = boto3.client("s3", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    s3.create_multipart_upload(Bucket=bucket, Key="studio-snapshots/nightly/home/research/"
                                                   "alice/home/20200101T000000Z/archive.tar.zst")


def stack_worker_config(template: dict[str, Any], values: dict[str, str],
                        subnets: list[str]) -> str:
    """The controller's STUDIO_OPERATOR_WORKERS as the stack renders it, with `values`
    for the stack's parameters, resources and attributes (a name missing: KeyError)."""
    container = template["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]
    (entry,) = [e for e in granted(container["Environment"])
                if e["Name"] == "STUDIO_OPERATOR_WORKERS"]
    text, variables = entry["Value"]["Fn::Sub"]
    assert variables["Subnets"] == {"Fn::Join": ['", "', {"Ref": "SubnetIds"}]}
    names = {**values, "Subnets": '", "'.join(subnets)}
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def _worker_region(aws: Emulator, template: dict[str, Any], source: str,
                   target: str) -> WorkerSettings:
    """What the stack makes for workers in the primary region (cluster, bucket, security
    group admitted by the mount targets' groups, the region's file system's worker access
    point) and the worker settings it gives the controller. The target file system is the
    operator's own: it gets a mount target next to the source's, as Studio's would."""
    def client(service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    efs, ec2 = client("efs"), client("ec2")
    target_of_source = efs.describe_mount_targets(FileSystemId=source)["MountTargets"][0]
    nfs_groups = efs.describe_mount_target_security_groups(
        MountTargetId=target_of_source["MountTargetId"])["SecurityGroups"]
    if not efs.describe_mount_targets(FileSystemId=target)["MountTargets"]:
        efs.create_mount_target(FileSystemId=target, SubnetId=target_of_source["SubnetId"],
                                SecurityGroups=nfs_groups)
    workers = worker_security_group(ec2, "studio-operator-worker", target_of_source["VpcId"],
                                    nfs_groups)
    cluster = client("ecs").create_cluster(clusterName="studio-operator")["cluster"]
    client("s3").create_bucket(Bucket="studio-operator-movers")
    point = efs.create_access_point(FileSystemId=source, ClientToken="stack-worker",
                                    PosixUser={"Uid": 0, "Gid": 0},
                                    RootDirectory={"Path": "/"})["AccessPointId"]
    account = "123456789012"
    text = stack_worker_config(template, {
        "ClusterName": cluster["clusterName"], "WorkerSecurityGroup": workers,
        "WorkerBucketName": "studio-operator-movers",
        "WorkerTaskRole.Arn": f"arn:aws:iam::{account}:role/studio-operator-WorkerTaskRole",
        "TaskExecutionRole.Arn": f"arn:aws:iam::{account}:role/studio-operator-Execution",
        "ContainerImage": f"{account}.dkr.ecr.{PRIMARY}.amazonaws.com/studio-operator:1.0.0",
        "AWS::StackName": "studio-operator", "FileSystemId": source,
        "WorkerAccessPoint": point, "Peer": ""}, [target_of_source["SubnetId"]])
    return replace(WorkerSettings.from_json(PRIMARY, text), poll_seconds=0.05,
                   follow_seconds=120.0)


def _datasync_settings(aws: Emulator, template: dict[str, Any],
                       source: str) -> DataSyncSettings:
    """STUDIO_OPERATOR_DATASYNC as the stack renders it: the source's mount target subnet
    as DataSyncSubnetId, the stack's DataSync group (made here), the mount targets' group."""
    efs = boto3.client("efs", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    ec2 = boto3.client("ec2", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    target = efs.describe_mount_targets(FileSystemId=source)["MountTargets"][0]
    (nfs, *_) = efs.describe_mount_target_security_groups(
        MountTargetId=target["MountTargetId"])["SecurityGroups"]
    group = ec2.create_security_group(GroupName="studio-operator-datasync",
                                      Description="DataSync", VpcId=target["VpcId"])["GroupId"]
    container = template["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0]
    (entry,) = [e for e in granted(container["Environment"])
                if e["Name"] == "STUDIO_OPERATOR_DATASYNC"]
    names = {"AWS::Partition": "aws", "AWS::Region": PRIMARY, "AWS::AccountId": ACCOUNT,
             "DataSyncSubnetId": target["SubnetId"], "DataSyncSecurityGroup": group,
             "FileSystemSecurityGroupId": nfs, "DataSyncFileSystemRole.Arn": DATASYNC_ROLE_ARN}
    text = re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], entry["Value"]["Fn::Sub"])
    return replace(DataSyncSettings.from_json(PRIMARY, text), poll_seconds=0.05)


def run_scenario(aws: Emulator, tmp: Path) -> Scenario:
    template = load_template()
    v1_folder, v2_folder, v3_folder = _desired_folders(tmp)
    boto3.client("iam", region_name=PRIMARY, endpoint_url=aws.endpoint_url).create_role(
        RoleName=PROFILE_ROLE_NAME, Path="/studio/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    v1 = prepared(aws, load_desired_state(v1_folder))
    v2 = load_desired_state(v2_folder)
    table = _create_status_tables(aws, template)
    requests: Counter[str] = Counter()
    gateways = []

    def by_the_controller(step: Callable[[], Any]) -> Any:
        """Run `step` counting its requests; the test's own set-up calls stay outside."""
        aws.reset_request_counts()
        result = step()
        requests.update(aws.request_counts())
        return result

    def controller_in(region: str) -> Reconciler:
        rec: Reconciler = by_the_controller(lambda: reconciler(aws, clock, region=region))
        gateways.append(rec.gateway)
        return rec

    clock = ManualClock()
    primary = controller_in(PRIMARY)
    # At start, a private repository's credentials (`studioctl run --git-credentials-secret`).
    secret = boto3.client("secretsmanager", region_name=PRIMARY, endpoint_url=aws.endpoint_url
                          ).create_secret(Name="estate-git", SecretString='{"token": "t"}')
    by_the_controller(SecretCredentials(primary.gateway, secret["ARN"], PRIMARY).prefetch)
    by_the_controller(lambda: converge(primary, v1, clock))
    # What a controller killed mid-upload leaves (made by the test, aborted by the next
    # pass); then the next slot of the 6-hour schedule.
    _left_over_upload(aws, v1)
    clock.advance(6 * 3600)
    by_the_controller(lambda: converge(primary, v2, clock))
    # AWS moves a notebook instance in its own time: a pass per move until it is updated.
    by_the_controller(lambda: passes_until_settled(primary, v2, clock, aws))

    # Two replicas of the primary's controller: one leads, the other stands by, the
    # leader lets go at a clean stop.
    leader = Lease(primary.gateway, PRIMARY, table, clock, "replica-a", 30.0)
    other = Lease(primary.gateway, PRIMARY, table, clock, "replica-b", 30.0)
    assert by_the_controller(leader.hold) and not by_the_controller(other.hold)
    by_the_controller(leader.release)

    # Failover readiness, as the leader checks it every few minutes, with the snapshot
    # policy's bucket to reach in the standby region.
    by_the_controller(lambda: run_preflight(primary.gateway, v2, REPLICA, table))

    # Failover: the replica region promotes its copy and brings Studio up there.
    old = aws.efs_root / _file_system(aws, PRIMARY, "studio-efs")["FileSystemId"]
    (old / "home/research/alice/before.txt").write_text("replicated before the flip")
    aws.sync_replication()
    flipped = _active_in(v2, REPLICA, "flipped")
    active = controller_in(REPLICA)
    by_the_controller(lambda: converge(active, flipped, clock))
    # The new active region checks the way back (into the old region) as well.
    by_the_controller(lambda: run_preflight(active.gateway, flipped, PRIMARY, table))

    # The old region was still serving for a moment: an app ran, a file was written.
    (old / "home/research/alice/late.txt").write_text("written after the failover")
    _start_app(aws, PRIMARY, "research", "alice")
    # Its controller comes back as the standby: stops the app, fences, saves, opens up.
    standby = controller_in(PRIMARY)
    by_the_controller(lambda: converge(standby, flipped, clock))
    # The active region replicates back into the old copy.
    by_the_controller(lambda: active.reconcile(flipped))
    new = aws.efs_root / _file_system(aws, REPLICA, "studio-efs")["FileSystemId"]
    saved = any((new / RECOVERY_ROOT).glob("*/home/research/alice/late.txt"))

    # Failback: the flag goes home; the old copy is promoted again and un-fenced.
    aws.sync_replication()
    primary_again = controller_in(PRIMARY)
    by_the_controller(lambda: converge(primary_again, _active_in(v2, PRIMARY, "back"), clock))

    passed = _roles_given_to_sagemaker(aws)

    # Events: the leader reads the region's queue (what the converges above made came
    # back as CloudTrail events) and deletes what it read.
    queue = boto3.client("sqs", region_name=PRIMARY, endpoint_url=aws.endpoint_url
                         ).get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    listener = EventListener(primary_again.gateway, PRIMARY, queue, EventInbox(),
                             wait_seconds=1)
    assert by_the_controller(listener.poll_once) > 0

    # Offboarding: the analytics domain leaves the desired state, with prune on; its
    # shared space, its profiles (each after its final snapshot), then the domain go.
    analytics = _domain_id(aws, PRIMARY, "analytics")
    boto3.client("sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url
                 ).create_space(DomainId=analytics, SpaceName="analytics-team",
                                SpaceSettings={"AppType": "JupyterLab"},
                                SpaceSharingSettings={"SharingType": "Shared"},
                                OwnershipSettings={"OwnerUserProfileName": "dave"})
    pruning = _active_in(load_desired_state(v3_folder), PRIMARY, "pruned")
    by_the_controller(lambda: converge(primary_again, pruning, clock))
    assert [d["DomainName"] for d in boto3.client(
        "sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url
    ).list_domains()["Domains"]] == ["research"]

    # A data move the controller cannot make in its own task: a worker task, configured
    # as the stack configures the controller, copies the region's file system (through
    # the stack's access point) into the operator's scratch file system (through one the
    # controller makes). The worker's own requests are told apart from the controller's.
    source = _file_system(aws, PRIMARY, "studio-efs")["FileSystemId"]
    scratch = _file_system(aws, PRIMARY, "studio-scratch")["FileSystemId"]
    settings = _worker_region(aws, template, source, scratch)
    (aws.efs_root / source / "home/research/alice/moved.txt").write_text("by a worker")
    mover = WorkerTaskMover(primary_again.gateway, settings)
    gateway = primary_again.gateway
    sent_before = by_operation(gateway.calls)
    aws.reset_request_counts()
    report = run_job(CopyJob(source, scratch, "working_copy"), None, mover)
    # Back the other way (the scratch copy read-only now): a second task definition, and
    # with one kept, the first is deregistered.
    back = WorkerTaskMover(primary_again.gateway, replace(settings, definitions_kept=1))
    report_back = run_job(CopyJob(scratch, source, "working_copy"), None, back)
    seen = Counter(aws.request_counts())
    sent = by_operation(gateway.calls)
    by_controller = sent - sent_before
    requests.update(by_controller)
    worker_requests = seen - by_controller
    moved = report.ok and report_back.ok and (
        aws.efs_root / scratch / "home/research/alice/moved.txt").is_file()

    # DataSync, configured as the stack configures the controller, fills two folders of
    # the scratch file system; the second job, with one task kept, prunes the first task
    # and its locations; the second job again reuses its locations and task.
    datasync = _datasync_settings(aws, template, source)
    before = by_operation(gateway.calls)
    for user in ("alice", "bob"):
        (aws.efs_root / source / f"home/research/{user}").mkdir(parents=True, exist_ok=True)
        (aws.efs_root / source / f"home/research/{user}/synced.txt").write_text("DataSync")
    first = DataSyncMover(gateway, datasync).run(CopyJob(
        source, scratch, "working_copy", "home/research/alice", "datasync/alice"))
    bob = CopyJob(source, scratch, "working_copy", "home/research/bob", "datasync/bob")
    second = DataSyncMover(gateway, replace(datasync, tasks_kept=1)).run(bob)
    DataSyncMover(gateway, datasync).run(bob)  # found again by tag and name, not made
    requests.update(by_operation(gateway.calls) - before)
    datasync_moved = first.ok and second.ok and all(
        (aws.efs_root / scratch / f"datasync/{user}/synced.txt").is_file()
        for user in ("alice", "bob"))
    locations = boto3.client("datasync", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    datasync_roles = frozenset(
        locations.describe_location_efs(LocationArn=found["LocationArn"]).get(
            "FileSystemAccessRoleArn", "") for found in locations.list_locations()["Locations"])

    # Failback's save across regions, with the replica's stack as the peer: the old copy
    # (the replica's, written late) is sent through S3 into the primary's recovery folder.
    replica = _file_system(aws, REPLICA, "studio-efs")["FileSystemId"]
    relay = run_relay(aws, template, gateway, {PRIMARY: source, REPLICA: replica},
                      home=PRIMARY, away=REPLICA)
    requests.update(relay.controller_requests)
    worker_requests.update(relay.worker_requests)

    # A snapshot of, then a restore into, file systems the controller does not mount: on
    # the stack's workers, with the snapshot bucket and key (their own role's requests).
    archive = run_archive_jobs(aws, gateway, mover, source, scratch)
    worker_requests.update(archive.worker_requests)

    calls = {f"{service}:{operation}" for gateway in gateways
             for (service, operation, _) in gateway.calls}
    return Scenario(requests, calls, saved, worker_requests, moved, relay, passed,
                    datasync_moved, datasync_roles, archive)


def by_operation(calls: Counter[tuple[str, str, str]]) -> Counter[str]:
    """The gateway's calls by service:operation, summed over outcomes (one operation may
    have failed and succeeded: a task definition looked up before it is registered)."""
    summed: Counter[str] = Counter()
    for (service, operation, _), count in calls.items():
        summed[f"{service}:{operation}"] += count
    return summed


def _roles_given_to_sagemaker(aws: Emulator) -> set[str]:
    """The execution roles SageMaker holds in both regions: what the controller passed."""
    roles: set[str] = set()
    for region in (PRIMARY, REPLICA):
        sagemaker = boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)
        for domain in sagemaker.list_domains()["Domains"]:
            described = sagemaker.describe_domain(DomainId=domain["DomainId"])
            roles.add(described["DefaultUserSettings"]["ExecutionRole"])
            for profile in sagemaker.list_user_profiles(DomainIdEquals=domain["DomainId"])[
                    "UserProfiles"]:
                settings = sagemaker.describe_user_profile(
                    DomainId=domain["DomainId"], UserProfileName=profile["UserProfileName"]
                ).get("UserSettings", {})
                if settings.get("ExecutionRole"):
                    roles.add(settings["ExecutionRole"])
        for notebook in sagemaker.list_notebook_instances()["NotebookInstances"]:
            roles.add(sagemaker.describe_notebook_instance(
                NotebookInstanceName=notebook["NotebookInstanceName"])["RoleArn"])
    return roles


@pytest.fixture(scope="module")
def scenario(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    emulator.reset()  # the per-test `aws` fixture resets it again afterwards
    return run_scenario(emulator, tmp_path_factory.mktemp("controller-template"))


@pytest.fixture(scope="module")
def task_role() -> list[dict[str, Any]]:
    return role_statements(load_template())


# --- the tests --------------------------------------------------------------------------

def test_the_controller_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scenario_went_through_failover_fencing_and_failback(scenario):
    made = scenario.actions
    for step in ("sagemaker:CreateNotebookInstance", "sagemaker:StopNotebookInstance",
                 "sagemaker:UpdateNotebookInstance", "sagemaker:StartNotebookInstance",
                 "sagemaker:CreateDomain", "sagemaker:UpdateDomain",
                 "sagemaker:CreateUserProfile", "sagemaker:UpdateUserProfile",
                 "sagemaker:CreateStudioLifecycleConfig", "sagemaker:DeleteApp",
                 "elasticfilesystem:CreateFileSystem",
                 "elasticfilesystem:CreateReplicationConfiguration",
                 "elasticfilesystem:DeleteReplicationConfiguration",
                 "elasticfilesystem:PutFileSystemPolicy",
                 "elasticfilesystem:DeleteFileSystemPolicy",
                 "elasticfilesystem:UpdateFileSystemProtection",
                 "elasticfilesystem:CreateMountTarget",
                 "elasticfilesystem:ModifyMountTargetSecurityGroups",
                 "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
                 "cloudwatch:GetMetricStatistics",
                 "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                 "secretsmanager:GetSecretValue", "servicequotas:GetServiceQuota",
                 "s3:ListBucket", "elasticfilesystem:DescribeMountTargets",
                 "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                 "kms:GenerateDataKey", "kms:Decrypt",
                 "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:RunTask",
                 "ecs:ListTasks", "ecs:DescribeTasks", "elasticfilesystem:CreateAccessPoint",
                 "ecs:ListTaskDefinitionFamilies", "ecs:DeregisterTaskDefinition"):
        assert step in made, f"the scenario never made {step}"
    assert scenario.saved_late_write, "the standby saved its late write on the active copy"
    assert scenario.worker_moved, "the worker task copied the file system"
    assert scenario.datasync_moved, "DataSync filled the scratch file system's folders"
    # The stack makes the table: the controller only finds it.
    assert "dynamodb:CreateTable" not in made
    # What the emulator saw is what the controller's gateways sent (nothing of the test's).
    assert set(scenario.requests) == scenario.gateway_calls


def test_every_request_the_controller_made_is_allowed_by_the_task_role(scenario, task_role):
    assert missing_actions(task_role, scenario.actions) == []


def test_the_task_role_grants_nothing_the_controller_does_not_need(scenario, task_role):
    assert unexplained_grants(task_role, scenario.actions) == []
    for action, triggers in AUTHORIZED_WITH.items():
        assert scenario.actions & set(triggers), f"{action}: none of {triggers} was made"


def test_the_worker_role_allows_what_the_worker_sent_and_no_other_api_call(scenario):
    """The worker task reads its job and writes its report (its own credentials, not the
    controller's); its role grants those, and NFS through access points, nothing else."""
    worker_role = role_statements(load_template(), "WorkerTaskRole")
    # A relay upload that fails is aborted by the worker (then the step runs again): made
    # here only when an upload failed (under load), always in
    # tests/movers/test_cross_region_save.py.
    aborted = {"s3:AbortMultipartUpload"}
    # A snapshot's data key made and unwrapped by the workers that archive and restore.
    keys = {"kms:GenerateDataKey", "kms:Decrypt"}
    assert {"s3:GetObject", "s3:PutObject"} | keys <= scenario.worker_actions
    assert scenario.worker_actions <= {"s3:GetObject", "s3:PutObject"} | aborted | keys
    assert missing_actions(worker_role, scenario.worker_actions) == []
    assert granted_actions(worker_role) - set(NFS_CLIENT_ACTIONS) == \
        {"s3:GetObject", "s3:PutObject"} | aborted | keys
    by_action: dict[str, list[str]] = {}
    for s in worker_role:
        for a in _listed(s["Action"]):
            if a.startswith("s3:"):
                by_action.setdefault(a, []).extend(r["Fn::Sub"] for r in _listed(s["Resource"]))
    prefix = "arn:${AWS::Partition}:s3:::${WorkerBucketName}/movers/"
    # The relay's objects meet in either region's bucket (the active copy's).
    relay = [f"{prefix}relay/*",
             "arn:${AWS::Partition}:s3:::${PeerWorkerBucketName}/movers/relay/*"]
    snapshots = "arn:${AWS::Partition}:s3:::${SnapshotBucketName}/*"
    assert by_action == {"s3:GetObject": [f"{prefix}jobs/*", *relay, snapshots],
                         "s3:PutObject": [f"{prefix}reports/*", *relay, snapshots],
                         "s3:AbortMultipartUpload": [*relay, snapshots]}


WORKER_SNAPSHOT_SIDS = {"WorkerSnapshotObjects", "WorkerSnapshotDataKeys"}


def archive_denied(run: ArchiveRun, template: dict[str, Any]) -> list[tuple[str, str]]:
    """What the workers' snapshot and restore needed that the worker role does not allow:
    each object they wrote and read, at resource level, and the snapshot key's actions."""
    role = role_statements(template, "WorkerTaskRole")
    rendered_role = render(role, worker_names(run.key_arn))
    denied = [(action, f"arn:aws:s3:::{BUCKET_OF_SNAPSHOTS}/{key}") for key in run.written
              for action in ("s3:PutObject", "s3:GetObject")
              if not allows(rendered_role, action, f"arn:aws:s3:::{BUCKET_OF_SNAPSHOTS}/{key}")]
    denied += [(action, run.key_arn) for action in ("kms:GenerateDataKey", "kms:Decrypt")
               if not is_allowed(role, action)]
    return denied


def test_a_worker_snapshots_and_restores_file_systems_the_controller_does_not_mount(
        scenario):
    run = scenario.archive
    assert run is not None and run.snapshot.ok and run.restore.ok, run
    assert len(run.written) == 2, "the archive and its manifest"
    assert run.restored is not None
    assert (run.restored / "archived-by-a-worker.txt").read_text() == "archived on a worker"


def test_the_worker_role_allows_the_snapshot_and_restore_and_fails_without_its_grants(
        scenario):
    assert archive_denied(scenario.archive, load_template()) == []
    template = load_template()
    for policy in template["Resources"]["WorkerTaskRole"]["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        statements[:] = [s for s in statements if granted(s) == {"Ref": "AWS::NoValue"}
                         or granted(s).get("Sid") not in WORKER_SNAPSHOT_SIDS]
    denied = archive_denied(scenario.archive, template)
    assert {action for action, _ in denied} == {"s3:PutObject", "s3:GetObject",
                                                "kms:GenerateDataKey", "kms:Decrypt"}


def test_worker_grants_are_scoped_to_the_stacks_family_cluster_roles_and_prefix(task_role):
    statements = {s["Sid"]: s for s in task_role}
    cluster = {"ecs:cluster": {"Fn::Sub": [
        "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${Name}",
        {"Name": {"Ref": "Cluster"}}]}}  # (the !If taken as made by the stack)
    run = statements["RunWorkerTasks"]
    assert run["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:"
                               "${AWS::AccountId}:task-definition/${AWS::StackName}-worker-*:*"}
    assert run["Condition"] == {"ArnEquals": cluster}
    for sid in ("FollowWorkerTasks", "FindRunningWorkersInTheCluster"):
        assert statements[sid]["Condition"] == {"ArnEquals": cluster}, sid
    assert statements["TagWorkerTasksOnRun"]["Condition"] == {
        "StringEquals": {"ecs:CreateAction": "RunTask"}}
    # This stack's bucket, and the peer stack's (a save across regions), under movers/.
    for sid, folder in (("WorkerJobSpecs", "jobs"), ("WorkerReports", "reports")):
        assert [r["Fn::Sub"].split(":::")[1] for r in statements[sid]["Resource"]] == [
            f"${{WorkerBucketName}}/movers/{folder}/*",
            f"${{PeerWorkerBucketName}}/movers/{folder}/*"], sid
    peer_cluster = {"ecs:cluster": {"Fn::Sub": "arn:${AWS::Partition}:ecs:${OtherRegion}:"
                                               "${AWS::AccountId}:cluster/${PeerWorkerClusterName}"}}
    assert statements["RunPeerWorkerTasks"]["Resource"] == {"Fn::Sub": run["Resource"][
        "Fn::Sub"].replace("${AWS::Region}", "${OtherRegion}")}
    for sid in ("RunPeerWorkerTasks", "FollowPeerWorkerTasks", "FindRunningPeerWorkers"):
        assert statements[sid]["Condition"] == {"ArnEquals": peer_cluster}, sid
    assert statements["FindRelayObjects"]["Condition"] == {
        "StringLike": {"s3:prefix": "movers/relay/*"}}
    # The family the stack tells the controller is the one RunTask is allowed for.
    config = stack_worker_config(load_template(), {
        "ClusterName": "c", "WorkerSecurityGroup": "sg-1", "WorkerBucketName": "b",
        "WorkerTaskRole.Arn": "arn:aws:iam::1:role/w", "TaskExecutionRole.Arn":
        "arn:aws:iam::1:role/e", "ContainerImage": "i", "AWS::StackName": "stack",
        "FileSystemId": "fs-1", "WorkerAccessPoint": "fsap-1", "Peer": ""},
        ["subnet-1", "subnet-2"])
    settings = WorkerSettings.from_json(PRIMARY, config)
    assert (settings.family, settings.prefix, settings.subnets) == (
        "stack-worker", "movers/", ("subnet-1", "subnet-2"))
    assert settings.access_points == (("fs-1", "fsap-1"),)


def test_no_wildcard_actions_and_resource_star_only_where_iam_has_no_resource_level():
    template = load_template()
    for role in ("TaskRole", "TaskExecutionRole"):
        for statement in role_statements(template, role):
            actions = _listed(statement["Action"])
            assert not any("*" in a for a in actions), (role, statement["Sid"])
            if "*" in _listed(statement["Resource"]):
                if set(actions) <= SCOPED_BY_CONDITION:
                    assert statement.get("Condition"), (role, statement["Sid"])
                    continue
                assert set(actions) <= WITHOUT_RESOURCE_LEVEL, (role, statement["Sid"])


def test_nfs_access_and_role_passing_are_scoped_to_the_mounted_file_systems_and_role():
    statements = {s["Sid"]: s for s in role_statements(load_template())}
    mounts = statements["MountedFileSystems"]
    assert sorted(mounts["Action"]) == sorted(NFS_CLIENT_ACTIONS)
    assert "${FileSystemId}" in str(mounts["Resource"])
    # Only through the controller's own access point (the workers have theirs).
    assert mounts["Condition"] == {"StringEquals": {
        "elasticfilesystem:AccessPointArn": {"Fn::GetAtt": ["ControllerAccessPoint", "Arn"]}}}
    second = statements["MountedSecondFileSystem"]
    assert all("${SecondFileSystemId}" in str(r) for r in second["Resource"])
    assert all(not any(a in NFS_CLIENT_ACTIONS for a in _listed(s["Action"]))
               for sid, s in statements.items()
               if sid not in ("MountedFileSystems", "MountedSecondFileSystem"))
    passing = [s for s in statements.values() if "iam:PassRole" in _listed(s["Action"])]
    profile_roles = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role"
                                "${ProfileExecutionRolePath}*"}
    assert [s["Resource"] for s in passing] == [
        [{"Ref": "StudioExecutionRoleArn"}, profile_roles],
        [{"Fn::GetAtt": ["WorkerTaskRole", "Arn"]}, {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}],
        [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${PeerWorkerTaskRoleName}"},
         {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
                     "${PeerTaskExecutionRoleName}"}],
        [{"Fn::GetAtt": ["DataSyncFileSystemRole", "Arn"]}]]
    assert [s["Condition"] for s in passing] == [
        {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        {"StringEquals": {"iam:PassedToService": "datasync.amazonaws.com"}}]


def test_the_datasync_role_is_passed_to_datasync_only_and_fails_without_its_grant(scenario):
    """Every DataSync location the scenario made carries the stack's DataSync role: the
    task role may pass exactly that role, to DataSync only; without its statement the
    pass is denied (no other grant covers it)."""
    assert scenario.datasync_roles == {DATASYNC_ROLE_ARN}
    names = {"AWS::Partition": "aws", "AWS::Region": PRIMARY, "AWS::AccountId": ACCOUNT,
             "DataSyncFileSystemRole.Arn": DATASYNC_ROLE_ARN, **ROLE_PARAMETERS}
    statements = render(role_statements(load_template()), names)
    to_datasync = {"iam:PassedToService": "datasync.amazonaws.com"}
    assert allows(statements, "iam:PassRole", DATASYNC_ROLE_ARN, to_datasync)
    assert not allows(statements, "iam:PassRole", DATASYNC_ROLE_ARN,
                      {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert not allows(statements, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
                      to_datasync)
    without = [s for s in statements if s.get("Sid") != "PassFileSystemRoleToDataSyncOnly"]
    assert not allows(without, "iam:PassRole", DATASYNC_ROLE_ARN, to_datasync)


def test_the_datasync_role_mounts_only_the_stacks_and_the_operators_file_systems():
    template = load_template()
    role = template["Resources"]["DataSyncFileSystemRole"]
    assert role["Condition"] == "HasDataSync"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "datasync.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    stacks, operators = role_statements(template, "DataSyncFileSystemRole")
    for statement in (stacks, operators):
        assert sorted(statement["Action"]) == sorted(NFS_CLIENT_ACTIONS)
    assert [str(r).rpartition("/")[2] for r in stacks["Resource"]] == [
        "${FileSystemId}'}", "${SecondFileSystemId}'}"]
    assert operators["Condition"] == {"StringEquals": {
        "aws:ResourceTag/studio-operator.io/managed-by": "studio-operator"}}
    container = granted(template["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0])
    (entry,) = [e for e in container["Environment"] if e["Name"] == "STUDIO_OPERATOR_DATASYNC"]
    assert '"fileSystemAccessRoleArn": "${DataSyncFileSystemRole.Arn}"' in entry["Value"][
        "Fn::Sub"]


def test_workers_mount_only_through_access_points_the_regions_and_the_operators():
    template = load_template()
    mounting = [s for s in role_statements(template, "WorkerTaskRole")
                if set(_listed(s["Action"])) & set(NFS_CLIENT_ACTIONS)]
    stacks, operators = mounting
    assert sorted(stacks["Action"]) == sorted(NFS_CLIENT_ACTIONS)
    assert "${FileSystemId}" in str(stacks["Resource"])
    assert stacks["Condition"] == {"StringEquals": {
        "elasticfilesystem:AccessPointArn": {"Fn::GetAtt": ["WorkerAccessPoint", "Arn"]}}}
    # Working copies: file systems the operator made (tagged so), never by bare id.
    assert sorted(operators["Action"]) == sorted(NFS_CLIENT_ACTIONS)
    assert operators["Condition"] == {
        "StringEquals": {"aws:ResourceTag/studio-operator.io/managed-by": "studio-operator"},
        "Null": {"elasticfilesystem:AccessPointArn": "false"}}
    worker = template["Resources"]["WorkerTaskDefinition"]["Properties"]
    assert worker["Family"] == {"Fn::Sub": "${AWS::StackName}-worker"}
    (volume,) = [v for v in worker["Volumes"] if "EFSVolumeConfiguration" in v]
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"] == {
        "AccessPointId": {"Ref": "WorkerAccessPoint"}, "IAM": "ENABLED"}


def test_the_metrics_sidecar_labels_what_the_alert_rules_group_by():
    """The rules group by `region` and join on (job, instance): the collector must give
    every series the scrape job, the region, and an instance per task."""
    container = next(c for c in load_template()["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"] if c["Name"] == "metrics-collector")
    assert container["Essential"] is False
    (config_env,) = [e for e in container["Environment"] if e["Name"] == "AOT_CONFIG_CONTENT"]
    text, variables = config_env["Value"]["Fn::Sub"]
    config = yaml.safe_load(text)
    (job,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert job["job_name"] == "studio-operator"
    assert job["static_configs"] == [{"targets": ["localhost:9100"],
                                      "labels": {"region": "${AWS::Region}"}}]
    assert job["relabel_configs"] == [{"target_label": "instance",
                                       "replacement": "${!env:HOSTNAME}:9100"}]
    exporter = config["exporters"]["prometheusremotewrite"]
    assert exporter["endpoint"] == "${RemoteWriteUrl}" and "RemoteWriteUrl" in variables
    rules = (ROOT / "manifests" / "prometheus" / "studio-operator-alerts.yaml").read_text()
    assert 'job="studio-operator"' in rules and "by (region" in rules


def test_the_checker_catches_a_policy_missing_an_action_the_controller_made(scenario,
                                                                           task_role):
    mutated = [dict(s, Action=[a for a in _listed(s["Action"]) if a != "sagemaker:DeleteApp"])
               for s in task_role]
    assert missing_actions(mutated, scenario.actions) == ["sagemaker:DeleteApp"]
    widened = [*task_role, {"Effect": "Allow", "Action": ["sagemaker:DeleteModel"],
                            "Resource": "*"}]
    assert unexplained_grants(widened, scenario.actions) == ["sagemaker:DeleteModel"]


def test_the_tasks_security_group_has_no_ingress_and_only_https_and_nfs_egress():
    resources = load_template()["Resources"]
    group = resources["TaskSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert not any(r["Type"] == "AWS::EC2::SecurityGroupIngress"
                   and r["Properties"]["GroupId"] == {"Ref": "TaskSecurityGroup"}
                   for r in resources.values())
    egress = [*group["SecurityGroupEgress"],
              *(r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::EC2::SecurityGroupEgress")]
    assert {(e["FromPort"], e["ToPort"], str(e["CidrIp"])) for e in egress} == {
        (443, 443, "0.0.0.0/0"), (2049, 2049, str({"Ref": "VpcCidr"})),
        (2049, 2049, str({"Ref": "PeerNfsCidr"}))}


def test_the_task_runs_studioctl_run_with_options_it_accepts():
    template = load_template()
    container = granted(template["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0])
    command = [part if isinstance(part, str) else "x" for part in container["Command"]]
    args = build_parser().parse_args(command)
    assert (args.command, args.efs_root, args.metrics_port) == ("run", "/mnt/efs", 9100)
    # The metrics server binds loopback unless told: the task says where, explicitly (its
    # awsvpc namespace holds its own ENI and loopback, which the health check uses).
    assert args.metrics_address == "0.0.0.0"
    assert args.git_credentials_secret == "x", "a private repository's secret is passed"
    assert build_parser().parse_args(["run"]).metrics_address == "127.0.0.1"
    assert container["Command"][container["Command"].index("--region") + 1] == {
        "Ref": "AWS::Region"}
    mounts = [m["ContainerPath"] for m in container["MountPoints"] if "ContainerPath" in m]
    assert {"Fn::Sub": "/mnt/efs/${FileSystemId}"} in mounts
    assert container["User"] == "0", "root: share directories are chowned to their users"
    assert "http://localhost:9100/healthz" in " ".join(container["HealthCheck"]["Command"])
    volume = template["Resources"]["TaskDefinition"]["Properties"]["Volumes"][0]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"] == {
        "AccessPointId": {"Ref": "ControllerAccessPoint"}, "IAM": "ENABLED"}


def test_the_only_cross_region_table_access_is_reading_the_other_regions_failover_record():
    """The old active region reads the new one's takeover from its status table (same
    name in both regions); nothing else of that table, and nothing is written there."""
    statements = role_statements(load_template())
    other = [s for s in statements if "${OtherRegion}" in str(s["Resource"])
             and any(a.startswith("dynamodb:") for a in _listed(s["Action"]))]
    assert [(s["Sid"], _listed(s["Action"])) for s in other] == [
        ("OtherRegionsFailoverRecord", ["dynamodb:GetItem"])]
    assert other[0]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${OtherRegion}:"
                                               "${AWS::AccountId}:table/${StatusTableName}"}


def test_the_event_rule_sends_what_the_emulator_delivers_to_the_queue_with_dead_letters():
    """The stack's rule has the emulator's pattern (local mode is what is tested); its
    queue keeps a dead-letter queue, only the rule may send to it, and `run` reads it."""
    resources = load_template()["Resources"]
    rule = resources["EventRule"]["Properties"]
    assert rule["EventPattern"] == EVENT_PATTERN and rule["State"] == "ENABLED"
    assert rule["Targets"] == [{"Id": "event-queue",
                               "Arn": {"Fn::GetAtt": ["EventQueue", "Arn"]}}]
    redrive = resources["EventQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}
    (allowed,) = resources["EventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert allowed["Principal"] == {"Service": "events.amazonaws.com"}
    assert allowed["Condition"] == {"ArnEquals": {"aws:SourceArn": {
        "Fn::GetAtt": ["EventRule", "Arn"]}}}
    command = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Command"]
    assert command[command.index("--event-queue-url") + 1] == {"Ref": "EventQueue"}


# --- the save across regions (failback's, through S3), at resource level ----------------

def relay_denied(run: RelayRun, template: dict[str, Any]) -> list[tuple[str, ...]]:
    """What the relay's calls needed that the roles, each rendered with its own stack's
    names (the home controller's; each region's worker role), do not allow."""
    roles = {"controller": render(role_statements(template), run.names[PRIMARY])}
    for region, names in run.names.items():
        roles[f"worker:{region}"] = render(role_statements(template, "WorkerTaskRole"), names)
    return sorted({(who, action, resource) for who, action, resource, context
                   in requests_made(run, PRIMARY)
                   if not allows(roles[who], action, resource, dict(context))})


def test_the_scenario_saved_the_late_write_across_regions_and_left_nothing_in_s3(scenario):
    relay = scenario.relay
    assert relay.report.ok and relay.report.engine == "s3-relay"
    assert [s.path for s in relay.report.saved] == [
        "home/research/alice/after-failback.txt"]
    regions = sorted(t["taskArn"].split(":")[3] for t in relay.tasks)
    assert regions == [PRIMARY, PRIMARY, REPLICA], "list and receive at home, send away"
    assert any(k.startswith(relay.relay_prefix) for keys in relay.written.values()
               for k in keys), "the relay's objects went through the home bucket"
    assert relay.left == [], "specs, reports, listing and archive deleted"
    # Each stack's WorkerConfig names its access point: no access point is made across.
    assert "efs:CreateAccessPoint" not in relay.controller_requests
    assert relay.controller_requests["s3:DeleteObjects"] >= 1, "the relay prefix cleaned"


def test_every_call_of_the_save_across_regions_is_allowed_on_its_resource(scenario):
    assert relay_denied(scenario.relay, load_template()) == []


def test_without_the_peer_grants_the_save_across_regions_is_denied(scenario):
    """The resource-level check can fail: the template without its peer and relay
    statements denies the other region's tasks and the relay's objects."""
    template = load_template()
    peer_sids = {"RunPeerWorkerTasks", "TagPeerWorkerTasksOnRun", "FollowPeerWorkerTasks",
                 "FindRunningPeerWorkers", "PassPeerWorkerRolesToEcsTasksOnly",
                 "FindRelayObjects", "RelayObjects"}
    for role in ("TaskRole", "WorkerTaskRole"):
        for policy in template["Resources"][role]["Properties"]["Policies"]:
            statements = policy["PolicyDocument"]["Statement"]
            statements[:] = [s for s in statements
                             if granted(s) == {"Ref": "AWS::NoValue"}
                             or granted(s).get("Sid") not in peer_sids]
    denied = relay_denied(scenario.relay, template)
    assert {(who, action) for who, action, _ in denied} == {
        ("controller", "ecs:RunTask"), ("controller", "ecs:TagResource"),
        ("controller", "ecs:DescribeTasks"), ("controller", "ecs:ListTasks"),
        ("controller", "iam:PassRole"), ("controller", "s3:ListBucket"),
        (f"worker:{PRIMARY}", "s3:GetObject"), (f"worker:{PRIMARY}", "s3:PutObject"),
        (f"worker:{REPLICA}", "s3:GetObject"), (f"worker:{REPLICA}", "s3:PutObject")}
    # This region's own job specs and reports stay allowed without the peer statements.
    assert not any("/movers/jobs/" in r or "/movers/reports/" in r for _, _, r in denied)


def rendered(value: Any, names: dict[str, str]) -> Any:
    """A Ref or a Fn::Sub string with the stack's `names` put in (a name missing: KeyError)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
    return value


def test_every_role_given_to_sagemaker_is_one_the_task_role_may_pass_and_read(scenario,
                                                                             task_role):
    """carol's own role went into CreateUserProfile: the PassRole grant (and GetRole, which
    resolved her role's name) must cover it, through ProfileExecutionRolePath; the stack's
    execution role alone would not. The preflight is told the same patterns."""
    assert PROFILE_ROLE_ARN in scenario.passed_roles
    assert ROLE_PARAMETERS["StudioExecutionRoleArn"] in scenario.passed_roles
    assert "iam:GetRole" in scenario.actions
    statements = {s["Sid"]: s for s in task_role}
    for sid in ("PassExecutionRoleToSageMakerOnly", "ResolveExecutionRole"):
        patterns = tuple(rendered(r, ROLE_PARAMETERS)
                         for r in _listed(statements[sid]["Resource"]))
        assert [arn for arn in sorted(scenario.passed_roles)
                if not may_pass(patterns, arn)] == [], sid
        assert not may_pass(patterns, f"arn:aws:iam::{ACCOUNT}:role/admin"), sid
        assert not may_pass(patterns[:1], PROFILE_ROLE_ARN), "the parameter is what grants it"
    container = granted(load_template()["Resources"]["TaskDefinition"]["Properties"][
        "ContainerDefinitions"][0])
    (entry,) = [e for e in container["Environment"] if e["Name"] == PASSABLE_ROLES_ENV]
    told = passable_roles(rendered(entry["Value"], ROLE_PARAMETERS))
    assert told == tuple(rendered(r, ROLE_PARAMETERS) for r in _listed(
        statements["PassExecutionRoleToSageMakerOnly"]["Resource"]))
