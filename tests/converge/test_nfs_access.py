"""What Studio needs to mount the file systems, kept by the operator against the emulator:
the NFS security group, its ingress, a mount target in each of the domains' subnets;
adopted where it exists, made where not, repaired when it drifts, and EFS's limits
reported rather than worked around."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3

from controller.actions.context import ExecutionContext
from controller.actions.registry import execute
from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.gateway import AwsGateway
from tests.converge.helpers import converge, file_system, plan_now, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
REGION = "us-east-1"
OPERATOR_GROUP = "studio-operator-ml-platform-nfs"


def _estate(tmp_path: Path, named: bool = True, **edits: str) -> Path:
    """The example estate; without `named`, its domains name no NFS security group."""
    folder = tmp_path / "desired_state"
    shutil.copytree(EXAMPLE, folder)
    for name in ("analytics.yaml", "research.yaml"):
        path = folder / name
        text = path.read_text()
        if not named:
            text = text.replace("      nfsSecurityGroup: studio-nfs\n", "")
        for old, new in edits.items():
            text = text.replace(old, new)
        path.write_text(text)
    return folder


def _clients(aws):
    return (boto3.client(s, region_name=REGION, endpoint_url=aws.endpoint_url)
            for s in ("ec2", "efs", "sagemaker"))


def _targets(efs, fs_id: str) -> list[dict]:
    return sorted(efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"],
                  key=lambda t: t["SubnetId"])


def _groups_of(ec2, target: dict) -> set[str]:
    interface = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[target["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    return {g["GroupId"] for g in interface["Groups"]}


def _start_app(sagemaker, domain: str, user: str, name: str) -> str:
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == domain)
    sagemaker.create_app(DomainId=domain_id, UserProfileName=user, AppType="JupyterLab",
                         AppName=name)
    return str(sagemaker.describe_app(DomainId=domain_id, UserProfileName=user,
                                      AppType="JupyterLab", AppName=name)["Status"])


def test_without_a_named_group_the_operator_makes_one_and_adds_it_to_the_adopted_targets(
        aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path, named=False)))
    ec2, efs, sagemaker = _clients(aws)
    fs_id = file_system(aws, REGION)["FileSystemId"]
    before = {t["MountTargetId"]: _groups_of(ec2, t) for t in _targets(efs, fs_id)}
    assert len(before) == 2, "the prerequisites made them (studio-nfs)"
    clock = ManualClock()
    rec = reconciler(aws, clock)
    first = rec.reconcile(desired)
    assert [o.action for o in first.outcomes][:4] == [
        "CreateNfsSecurityGroup", "AllowNfsIngress", "AddMountTargetSecurityGroups",
        "AddMountTargetSecurityGroups"]
    assert not any(o.action == "CreateDomain" for o in first.outcomes), "waits for NFS"
    assert dict(first.plan.waiting)["Domain/research"]
    converge(rec, desired, clock)
    (group,) = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [OPERATOR_GROUP]}])["SecurityGroups"]
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["Name"] == OPERATOR_GROUP
    assert tags["studio-operator.io/managed-by"] == "studio-operator"
    studio_nfs = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["studio-nfs"]}])["SecurityGroups"][0]["GroupId"]
    (rule,) = group["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 2049, 2049)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [studio_nfs]
    for target in _targets(efs, fs_id):
        # adopted: what was there is kept, the operator's group is added
        assert _groups_of(ec2, target) == before[target["MountTargetId"]] | {group["GroupId"]}
    assert plan_now(aws, desired).actions == ()
    assert _start_app(sagemaker, "research", "alice", "default") == "InService"


def test_an_operator_made_file_system_gets_its_mount_targets_before_anyone_uses_it(
        aws, tmp_path):
    folder = _estate(tmp_path)
    (folder / "filesystems.yaml").write_text(
        (folder / "filesystems.yaml").read_text().replace(
            "      nameTag: studio-efs\n", "      nameTag: studio-efs-new\n      create: true\n"))
    desired = load_desired_state(folder)
    prepared(aws, desired)
    ec2, efs, sagemaker = _clients(aws)
    clock = ManualClock()
    rec = reconciler(aws, clock)
    first = rec.reconcile(desired)
    names = [o.action for o in first.outcomes if o.outcome == "ok"]
    assert names[:3] == ["CreateFileSystem", "CreateMountTarget", "CreateMountTarget"]
    assert "CreateDomain" not in names
    converge(rec, desired, clock)
    fs_id = file_system(aws, REGION, "studio-efs-new")["FileSystemId"]
    subnets = {s["SubnetId"] for s in ec2.describe_subnets(Filters=[
        {"Name": "tag:Name", "Values": ["studio-private-a", "studio-private-b"]}])["Subnets"]}
    assert {t["SubnetId"] for t in _targets(efs, fs_id)} == subnets
    assert _start_app(sagemaker, "analytics", "dave", "default") == "InService"


def test_two_subnets_in_one_zone_are_a_problem_the_plan_reports(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    ec2, efs, _ = _clients(aws)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["studio-vpc"]}])[
        "Vpcs"][0]["VpcId"]
    zone = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": ["studio-private-a"]}])[
        "Subnets"][0]["AvailabilityZone"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.200.0/24", AvailabilityZone=zone,
                      TagSpecifications=[{"ResourceType": "subnet", "Tags": [
                          {"Key": "Name", "Value": "studio-private-c"}]}])
    desired = load_desired_state(_estate(
        tmp_path / "b", **{"subnets: [studio-private-a, studio-private-b]":
                           "subnets: [studio-private-a, studio-private-b, studio-private-c]"}))
    plan = plan_now(aws, desired)
    assert any(p.startswith("Domain/research: subnets studio-private-a and studio-private-c "
                            f"are both in {zone}") for p in plan.problems)
    assert any(p.startswith("MountTarget/studio-efs/studio-private-c:") for p in plan.problems)
    assert not any(a.name in ("CreateDomain", "CreateMountTarget") for a in plan.actions)
    fs_id = file_system(aws, REGION)["FileSystemId"]
    assert len(_targets(efs, fs_id)) == 2


def test_throttling_while_making_mount_targets_leaves_one_per_subnet(aws, tmp_path):
    folder = _estate(tmp_path)
    (folder / "filesystems.yaml").write_text(
        (folder / "filesystems.yaml").read_text().replace(
            "      nameTag: studio-efs\n", "      nameTag: studio-efs-new\n      create: true\n"))
    desired = load_desired_state(folder)
    prepared(aws, desired)
    aws.set_faults(rate=0.4, kinds=("throttle", "5xx", "timeout"), services={"efs", "ec2"},
                   operations={"CreateMountTarget", "AuthorizeSecurityGroupIngress"},
                   seed=3, timeout_seconds=0.2)
    clock = ManualClock()
    rec = reconciler(aws, clock, max_attempts=2)
    converge(rec, desired, clock, max_passes=40)
    aws.clear_faults()
    # More attempts reached the emulator than the two mount targets: faults, retried.
    assert aws.request_counts()["efs:CreateMountTarget"] > 2
    _, efs, _ = _clients(aws)
    fs_id = file_system(aws, REGION, "studio-efs-new")["FileSystemId"]
    assert len(_targets(efs, fs_id)) == 2
    assert plan_now(aws, desired).actions == ()


def test_a_mount_target_or_ingress_taken_away_is_put_back(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path, named=False)))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    ec2, efs, _ = _clients(aws)
    fs_id = file_system(aws, REGION)["FileSystemId"]
    gone = _targets(efs, fs_id)[0]
    efs.delete_mount_target(MountTargetId=gone["MountTargetId"])
    (group,) = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [OPERATOR_GROUP]}])["SecurityGroups"]
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"],
                                      IpPermissions=group["IpPermissions"])
    plan = plan_now(aws, desired)
    assert sorted(a.name for a in plan.actions) == ["AllowNfsIngress", "CreateMountTarget"]
    assert {w for w, _ in plan.waiting} >= {"Domain/research", "UserProfile/research/alice"}
    converge(rec, desired, clock)
    assert gone["SubnetId"] in {t["SubnetId"] for t in _targets(efs, fs_id)}
    assert plan_now(aws, desired).actions == ()


def test_a_mount_target_a_lost_answer_already_made_is_adopted_not_duplicated(aws, tmp_path):
    desired = prepared(aws, load_desired_state(_estate(tmp_path)))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    ec2, efs, _ = _clients(aws)
    fs_id = file_system(aws, REGION)["FileSystemId"]
    gone = _targets(efs, fs_id)[0]
    efs.delete_mount_target(MountTargetId=gone["MountTargetId"])
    (action,) = [a for a in plan_now(aws, desired).actions if a.name == "CreateMountTarget"]
    # The first attempt made it; its answer never came back.
    efs.create_mount_target(FileSystemId=fs_id, SubnetId=gone["SubnetId"],
                            SecurityGroups=action.params["SecurityGroups"])
    ctx = ExecutionContext(AwsGateway(endpoint_url=aws.endpoint_url), REGION, aws.efs_root,
                           desired.revision)
    assert execute(action, ctx).startswith("adopted fsmt-")
    assert len(_targets(efs, fs_id)) == 2
