"""The emulator's DataSync through real boto3: EFS locations made only as AWS allows them,
tasks (options, regions, quota), executions that really copy between the file systems'
folders with the options' rules, one execution per task, cancel, tags."""

from __future__ import annotations

import os
import time

import pytest

from tests.emulator.helpers import error_of
from tests.movers.conftest import ACCOUNT, Region, client, make_region
from tests.snapshots.helpers import compare_trees, generate_tree


def fs_arn(region: str, fs: str) -> str:
    return f"arn:aws:elasticfilesystem:{region}:{ACCOUNT}:file-system/{fs}"


def ec2_config(region: Region) -> dict:
    name = region.settings.region
    return {"SubnetArn": f"arn:aws:ec2:{name}:{ACCOUNT}:subnet/{region.settings.subnets[0]}",
            "SecurityGroupArns": [f"arn:aws:ec2:{name}:{ACCOUNT}:security-group/{g}"
                                  for g in region.settings.security_groups]}


def location(aws, region: Region, fs: str, subdirectory: str = "/") -> str:
    name = region.settings.region
    return client(aws, "datasync", name).create_location_efs(
        EfsFilesystemArn=fs_arn(name, fs), Ec2Config=ec2_config(region),
        Subdirectory=subdirectory)["LocationArn"]


def wait_done(datasync, arn: str, timeout: float = 60.0) -> tuple[dict, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = datasync.describe_task_execution(TaskExecutionArn=arn)
        if not seen or seen[-1] != answer["Status"]:
            seen.append(answer["Status"])
        if answer["Status"] in ("SUCCESS", "ERROR"):
            return answer, seen
        time.sleep(0.005)
    raise AssertionError(f"execution still {seen} after {timeout}s")


@pytest.fixture
def east(aws) -> Region:
    aws.set_transition_seconds(0.05)
    return make_region(aws, "us-east-1")


def test_an_execution_copies_the_tree_keeping_owners_modes_times_and_links(aws, east):
    source, target = east.file_systems
    aws.set_transition_seconds(0.2)  # each status long enough to be seen by polling
    generate_tree(aws.efs_root / source / "data", files=300, mib=4)
    datasync = client(aws, "datasync", "us-east-1")
    task = datasync.create_task(
        SourceLocationArn=location(aws, east, source, "/data"),
        DestinationLocationArn=location(aws, east, target, "/copy/"),
        Options={"OverwriteMode": "NEVER", "VerifyMode": "POINT_IN_TIME_CONSISTENT"},
        Tags=[{"Key": "purpose", "Value": "test"}])["TaskArn"]
    run = datasync.start_task_execution(TaskArn=task)["TaskExecutionArn"]
    answer, seen = wait_done(datasync, run)
    assert answer["Status"] == "SUCCESS", answer["Result"]
    assert seen[-4:] == ["PREPARING", "TRANSFERRING", "VERIFYING", "SUCCESS"], seen
    assert compare_trees(aws.efs_root / source / "data", aws.efs_root / target / "copy") == []
    assert answer["FilesTransferred"] == answer["EstimatedFilesToTransfer"] >= 300
    assert answer["BytesWritten"] == answer["EstimatedBytesToTransfer"] > 0
    # Again: nothing changed, so everything is skipped.
    again, _ = wait_done(datasync, datasync.start_task_execution(TaskArn=task)
                         ["TaskExecutionArn"])
    assert (again["Status"], again["FilesTransferred"]) == ("SUCCESS", 0)
    assert again["FilesSkipped"] == answer["FilesTransferred"]
    listed = datasync.list_task_executions(TaskArn=task)["TaskExecutions"]
    assert [e["Status"] for e in listed] == ["SUCCESS", "SUCCESS"]
    assert datasync.list_tags_for_resource(ResourceArn=task)["Tags"] == [
        {"Key": "purpose", "Value": "test"}]


def test_overwrite_never_keeps_what_the_destination_holds(aws, east):
    source, target = east.file_systems
    (aws.efs_root / source / "a.txt").write_text("new from the source")
    (aws.efs_root / source / "b.txt").write_text("only in the source")
    (aws.efs_root / target / "a.txt").write_text("the user's own")
    datasync = client(aws, "datasync", "us-east-1")
    task = datasync.create_task(
        SourceLocationArn=location(aws, east, source),
        DestinationLocationArn=location(aws, east, target),
        Options={"OverwriteMode": "NEVER", "VerifyMode": "ONLY_FILES_TRANSFERRED"})["TaskArn"]
    answer, _ = wait_done(datasync, datasync.start_task_execution(TaskArn=task)
                          ["TaskExecutionArn"])
    assert answer["Status"] == "SUCCESS"
    assert (aws.efs_root / target / "a.txt").read_text() == "the user's own"
    assert (aws.efs_root / target / "b.txt").read_text() == "only in the source"
    # A whole-tree verification sees a.txt differ: with NEVER it fails, as on AWS.
    full, _ = wait_done(datasync, datasync.start_task_execution(
        TaskArn=task, OverrideOptions={"VerifyMode": "POINT_IN_TIME_CONSISTENT"})
        ["TaskExecutionArn"])
    assert (full["Status"], full["Result"]["VerifyStatus"]) == ("ERROR", "ERROR")


def test_overwrite_always_replaces_a_changed_file_and_remove_deletes_extras(aws, east):
    source, target = east.file_systems
    (aws.efs_root / source / "a.txt").write_text("new")
    (aws.efs_root / target / "a.txt").write_text("old content")
    (aws.efs_root / target / "gone").mkdir()
    (aws.efs_root / target / "gone" / "x").write_text("x")
    datasync = client(aws, "datasync", "us-east-1")
    task = datasync.create_task(
        SourceLocationArn=location(aws, east, source),
        DestinationLocationArn=location(aws, east, target),
        Options={"PreserveDeletedFiles": "REMOVE"})["TaskArn"]
    answer, _ = wait_done(datasync, datasync.start_task_execution(TaskArn=task)
                          ["TaskExecutionArn"])
    assert answer["Status"] == "SUCCESS", answer["Result"]
    assert (aws.efs_root / target / "a.txt").read_text() == "new"
    assert not (aws.efs_root / target / "gone").exists()
    assert answer["FilesDeleted"] == 1


def test_one_execution_per_task_and_cancel_ends_in_error(aws, east):
    source, target = east.file_systems
    aws.set_transition_seconds(0.5)
    (aws.efs_root / source / "f").write_text("x")
    datasync = client(aws, "datasync", "us-east-1")
    task = datasync.create_task(SourceLocationArn=location(aws, east, source),
                                DestinationLocationArn=location(aws, east, target))["TaskArn"]
    run = datasync.start_task_execution(TaskArn=task)["TaskExecutionArn"]
    assert error_of(lambda: datasync.start_task_execution(TaskArn=task)) == (
        "InvalidRequestException", 400)
    described = datasync.describe_task(TaskArn=task)
    assert (described["Status"], described["CurrentTaskExecutionArn"]) == ("RUNNING", run)
    assert error_of(lambda: datasync.delete_task(TaskArn=task))[0] == "InvalidRequestException"
    datasync.cancel_task_execution(TaskExecutionArn=run)
    answer, _ = wait_done(datasync, run)
    assert (answer["Status"], answer["Result"]["ErrorCode"]) == ("ERROR", "OpCancelled")
    assert not (aws.efs_root / target / "f").exists()
    assert "CurrentTaskExecutionArn" not in datasync.describe_task(TaskArn=task)


def test_locations_are_refused_as_aws_refuses_them(aws, east):
    source, _ = east.file_systems
    datasync = client(aws, "datasync", "us-east-1")
    west = client(aws, "datasync", "us-west-2")
    cases = {
        "a file system of another region": lambda: west.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east)),
        "an unknown file system": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", "fs-0123456789abcdef0"),
            Ec2Config=ec2_config(east)),
        "an unknown subnet": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config={
                **ec2_config(east),
                "SubnetArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-0000aaaa"}),
        "an unknown security group": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config={
                **ec2_config(east), "SecurityGroupArns": [
                    f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0000aaaa"]}),
        "a role without TLS": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east),
            FileSystemAccessRoleArn=f"arn:aws:iam::{ACCOUNT}:role/datasync-efs"),
        "a role of another account": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east),
            InTransitEncryption="TLS1_2",
            FileSystemAccessRoleArn="arn:aws:iam::210987654321:role/datasync-efs"),
        "a role without a name": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east),
            InTransitEncryption="TLS1_2", FileSystemAccessRoleArn=f"arn:aws:iam::{ACCOUNT}:role/"),
        "an unknown access point": lambda: datasync.create_location_efs(
            EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east),
            InTransitEncryption="TLS1_2", AccessPointArn=(
                f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:access-point/fsap-0123abcd")),
    }
    for case, call in cases.items():
        assert error_of(call) == ("InvalidRequestException", 400), case
    point = client(aws, "efs", "us-east-1").create_access_point(FileSystemId=source)
    made = datasync.create_location_efs(
        EfsFilesystemArn=fs_arn("us-east-1", source), Ec2Config=ec2_config(east),
        InTransitEncryption="TLS1_2", AccessPointArn=point["AccessPointArn"],
        FileSystemAccessRoleArn=f"arn:aws:iam::{ACCOUNT}:role/datasync-efs",
        Subdirectory="/home/")["LocationArn"]
    described = datasync.describe_location_efs(LocationArn=made)
    assert described["LocationUri"] == f"efs://us-east-1.{source}/home/"
    assert described["InTransitEncryption"] == "TLS1_2"
    assert described["FileSystemAccessRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/datasync-efs"
    assert described["AccessPointArn"] == point["AccessPointArn"]
    listed = datasync.list_locations(Filters=[{"Name": "LocationUri", "Operator": "Equals",
                                               "Values": [described["LocationUri"]]}])
    assert [loc["LocationArn"] for loc in listed["Locations"]] == [made]


def test_tasks_across_regions_live_where_one_location_is(aws, east):
    west = make_region(aws, "us-west-2")
    east_loc = location(aws, east, east.file_systems[0])
    west_loc = location(aws, west, west.file_systems[0])
    (aws.efs_root / east.file_systems[0] / "f").write_text("crosses")
    elsewhere = client(aws, "datasync", "eu-west-1")
    assert error_of(lambda: elsewhere.create_task(
        SourceLocationArn=east_loc, DestinationLocationArn=west_loc))[0] == \
        "InvalidRequestException"
    datasync = client(aws, "datasync", "us-west-2")
    task = datasync.create_task(SourceLocationArn=east_loc,
                                DestinationLocationArn=west_loc)["TaskArn"]
    answer, _ = wait_done(datasync, datasync.start_task_execution(TaskArn=task)
                          ["TaskExecutionArn"])
    assert answer["Status"] == "SUCCESS"
    assert (aws.efs_root / west.file_systems[0] / "f").read_text() == "crosses"


def test_options_combinations_and_the_task_quota(aws, east):
    datasync = client(aws, "datasync", "us-east-1")
    source = location(aws, east, east.file_systems[0])
    target = location(aws, east, east.file_systems[1])
    for options in ({"Atime": "BEST_EFFORT", "Mtime": "NONE"},
                    {"Atime": "NONE", "Mtime": "NONE", "TransferMode": "ALL",
                     "PreserveDeletedFiles": "REMOVE"},
                    {"OverwriteMode": "SOMETIMES"}):
        assert error_of(lambda options=options: datasync.create_task(
            SourceLocationArn=source, DestinationLocationArn=target,
            Options=options))[0] in ("InvalidRequestException", "ValidationException"), options
    for n in range(100):
        datasync.create_task(SourceLocationArn=source, DestinationLocationArn=target,
                             Name=f"t{n}")
    assert error_of(lambda: datasync.create_task(
        SourceLocationArn=source, DestinationLocationArn=target)) == (
        "InvalidRequestException", 400)
    pages = datasync.get_paginator("list_tasks").paginate(PaginationConfig={"PageSize": 30})
    assert len([t for page in pages for t in page["Tasks"]]) == 100
    assert error_of(lambda: datasync.delete_location(LocationArn=source))[0] == \
        "InvalidRequestException"
    assert os.path.isdir(aws.efs_root / east.file_systems[0])
