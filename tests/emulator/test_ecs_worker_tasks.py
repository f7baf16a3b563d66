"""ECS as the emulator answers it for worker tasks: registration refusals ECS makes,
RunTask idempotent on its clientToken, ListTasks by startedBy, StopTask ending the
process, and a task definition's container run as `studioctl` with its volumes."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.movers.conftest import client, make_region


def definition(fs: str, point: str, **efs) -> dict:
    return {
        "family": "worker", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
        "cpu": "256", "memory": "512",
        "taskRoleArn": "arn:aws:iam::123456789012:role/worker",
        "volumes": [{"name": "data", "efsVolumeConfiguration": {
            "fileSystemId": fs, **efs,
            "authorizationConfig": {"accessPointId": point, "iam": "ENABLED"}}}],
        "containerDefinitions": [{"name": "worker", "image": "studio-operator:test",
                                  "command": ["worker", "--help"],
                                  "mountPoints": [{"sourceVolume": "data",
                                                   "containerPath": "/mnt/efs/x"}]}]}


def stopped(ecs, arn: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (task,) = ecs.describe_tasks(cluster="studio-operator", tasks=[arn])["tasks"]
        if task["lastStatus"] == "STOPPED":
            return task
        time.sleep(0.05)
    raise AssertionError(f"{arn} did not stop")


@pytest.fixture
def ready(aws):
    region = make_region(aws, "us-east-1", file_systems=1)
    fs = region.file_systems[0]
    point = client(aws, "efs", "us-east-1").create_access_point(
        FileSystemId=fs, ClientToken="w")["AccessPointId"]
    return region, fs, point


def run(ecs, region, arn, **extra):
    return ecs.run_task(cluster="studio-operator", taskDefinition=arn, launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {
                            "subnets": list(region.settings.subnets),
                            "securityGroups": list(region.settings.security_groups)}},
                        **extra)["tasks"][0]


def test_iam_or_an_access_point_needs_transit_encryption(aws, ready):
    _, fs, point = ready
    ecs = client(aws, "ecs", "us-east-1")
    with pytest.raises(ClientError, match="Transit encryption"):
        ecs.register_task_definition(**definition(fs, point))
    arn = ecs.register_task_definition(**definition(fs, point, transitEncryption="ENABLED"))[
        "taskDefinition"]["taskDefinitionArn"]
    assert arn.endswith(":1")


def test_a_task_runs_its_command_and_stops_with_the_exit_code(aws, ready):
    region, fs, point = ready
    ecs = client(aws, "ecs", "us-east-1")
    arn = ecs.register_task_definition(**definition(fs, point, transitEncryption="ENABLED"))[
        "taskDefinition"]["taskDefinitionArn"]
    task = run(ecs, region, arn, startedBy="job-1", clientToken="t-1")
    assert task["lastStatus"] == "PROVISIONING"
    again = run(ecs, region, arn, startedBy="job-1", clientToken="t-1")
    assert again["taskArn"] == task["taskArn"], "RunTask is idempotent on clientToken"
    assert ecs.list_tasks(cluster="studio-operator", startedBy="job-1")["taskArns"] in (
        [task["taskArn"]], [])  # listed while it runs (`--help` ends quickly)
    done = stopped(ecs, task["taskArn"])
    assert done["containers"][0]["exitCode"] == 0
    assert done["stopCode"] == "EssentialContainerExited"
    assert ecs.list_tasks(cluster="studio-operator", startedBy="job-1")["taskArns"] == []
    assert ecs.list_tasks(cluster="studio-operator", startedBy="job-1",
                          desiredStatus="STOPPED")["taskArns"] == [task["taskArn"]]
    failing = run(ecs, region, arn, overrides={"containerOverrides": [
        {"name": "worker", "command": ["worker", "--job", "/nonexistent", "--report", "/x"]}]})
    assert stopped(ecs, failing["taskArn"])["containers"][0]["exitCode"] == 1


def test_stop_task_ends_a_running_worker(aws, ready):
    region, fs, point = ready
    aws.set_transition_seconds(0.5)
    ecs = client(aws, "ecs", "us-east-1")
    arn = ecs.register_task_definition(**definition(fs, point, transitEncryption="ENABLED"))[
        "taskDefinition"]["taskDefinitionArn"]
    task = run(ecs, region, arn, startedBy="job-2")
    ecs.stop_task(cluster="studio-operator", task=task["taskArn"], reason="test")
    done = stopped(ecs, task["taskArn"])
    assert (done["stopCode"], done["stoppedReason"]) == ("UserInitiated", "test")
    with pytest.raises(ClientError, match="ClusterNotFound"):
        ecs.list_tasks(cluster="nope")


def test_a_deregistered_revision_is_described_listed_inactive_and_never_run(aws, ready):
    region, fs, point = ready
    ecs = client(aws, "ecs", "us-east-1")
    body = definition(fs, point, transitEncryption="ENABLED")
    first = ecs.register_task_definition(**body)["taskDefinition"]["taskDefinitionArn"]
    with pytest.raises(ClientError, match="Specify a valid revision"):
        ecs.deregister_task_definition(taskDefinition="worker")
    gone = ecs.deregister_task_definition(taskDefinition=first)["taskDefinition"]
    assert gone["status"] == "INACTIVE" and "deregisteredAt" in gone
    assert ecs.deregister_task_definition(taskDefinition=first)["taskDefinition"][
        "status"] == "INACTIVE", "twice is not an error"
    assert ecs.list_task_definition_families(status="ACTIVE")["families"] == []
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["worker"]
    with pytest.raises(ClientError, match="Unable to describe"):
        ecs.describe_task_definition(taskDefinition="worker")  # no ACTIVE revision left
    with pytest.raises(ClientError, match="inactive"):
        run(ecs, region, first)
    again = ecs.register_task_definition(**body)["taskDefinition"]
    assert again["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition="worker")["taskDefinition"][
        "revision"] == 2
    assert ecs.list_task_definition_families(familyPrefix="wor")["families"] == ["worker"]
