"""Notebook instances in the emulator: statuses, AWS's refusals, and real lifecycle scripts."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from controller.emulator import Emulator
from tests.emulator.conftest import MakeClient
from tests.emulator.helpers import Network

ROLE_NAME = "notebook-role"


@pytest.fixture
def sagemaker(client: MakeClient) -> BaseClient:
    iam = client("iam")
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument="{}")
    return client("sagemaker")


def role_arn() -> str:
    return f"arn:aws:iam::123456789012:role/{ROLE_NAME}"


def wait_status(sagemaker: BaseClient, name: str, wanted: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        described = sagemaker.describe_notebook_instance(NotebookInstanceName=name)
        if described["NotebookInstanceStatus"] == wanted:
            return described
        assert time.monotonic() < deadline, f"{name} stayed {described['NotebookInstanceStatus']}"
        time.sleep(0.02)


def create(sagemaker: BaseClient, name: str = "nb", **extra: Any) -> str:
    arn = sagemaker.create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role_arn(), **extra)
    return str(arn["NotebookInstanceArn"])


def script_config(sagemaker: BaseClient, name: str, on_start: str = "",
                  on_create: str = "") -> None:
    def hook(text: str) -> list[dict[str, str]]:
        return [{"Content": base64.b64encode(text.encode()).decode()}] if text else []

    sagemaker.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name, OnStart=hook(on_start),
        OnCreate=hook(on_create))


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_an_instance_goes_pending_then_in_service_with_aws_defaults(
        aws: Emulator, sagemaker: BaseClient) -> None:
    aws.set_transition_seconds(0.2)
    arn = create(sagemaker)

    first = sagemaker.describe_notebook_instance(NotebookInstanceName="nb")
    settled = wait_status(sagemaker, "nb", "InService")

    assert first["NotebookInstanceStatus"] == "Pending"
    assert settled["NotebookInstanceArn"] == arn == (
        "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/nb")
    assert settled["PlatformIdentifier"] == "notebook-al2023-v1"
    assert settled["VolumeSizeInGB"] == 5
    assert settled["DirectInternetAccess"] == "Enabled"
    assert settled["RootAccess"] == "Enabled"
    assert settled["LastModifiedTime"] > first["LastModifiedTime"]
    assert aws.notebook_folder("nb").joinpath("SageMaker").is_dir()


def test_update_is_refused_while_in_service_and_applied_once_stopped(
        aws: Emulator, sagemaker: BaseClient) -> None:
    arn = create(sagemaker)
    wait_status(sagemaker, "nb", "InService")

    code, message = error_of(lambda: sagemaker.update_notebook_instance(
        NotebookInstanceName="nb", InstanceType="ml.t3.large"))
    assert code == "ValidationException"
    assert message == (f"Status (InService) not in ([Stopped]). Unable to transition to "
                       f"(Updating) for Notebook Instance ({arn}).")

    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "Stopped")
    sagemaker.update_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.large",
                                       VolumeSizeInGB=20, RootAccess="Disabled")
    updated = wait_status(sagemaker, "nb", "Stopped")

    assert (updated["InstanceType"], updated["VolumeSizeInGB"], updated["RootAccess"]) == (
        "ml.t3.large", 20, "Disabled")


def test_start_stop_and_delete_follow_awss_allowed_statuses(
        aws: Emulator, sagemaker: BaseClient) -> None:
    create(sagemaker)
    wait_status(sagemaker, "nb", "InService")

    assert error_of(lambda: sagemaker.start_notebook_instance(NotebookInstanceName="nb"))[1] \
        .startswith("Status (InService) not in ([Stopped, Failed]). Unable to transition to "
                    "(Pending)")
    assert error_of(lambda: sagemaker.delete_notebook_instance(NotebookInstanceName="nb"))[1] \
        .startswith("Status (InService) not in ([Stopped, Failed])")
    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "Stopped")
    assert error_of(lambda: sagemaker.stop_notebook_instance(NotebookInstanceName="nb"))[1] \
        .startswith("Status (Stopped) not in ([InService])")
    sagemaker.delete_notebook_instance(NotebookInstanceName="nb")

    deadline = time.monotonic() + 10
    while True:
        code, message = ("", "")
        try:
            sagemaker.describe_notebook_instance(NotebookInstanceName="nb")
        except ClientError as error:
            code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
        if code:
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert (code, message) == ("ValidationException", "RecordNotFound")
    assert not aws.notebook_folder("nb").exists()


def test_volume_cannot_shrink_nor_platform_change_generation_in_place(
        aws: Emulator, sagemaker: BaseClient) -> None:
    create(sagemaker, VolumeSizeInGB=10, PlatformIdentifier="notebook-al2-v1")
    wait_status(sagemaker, "nb", "InService")
    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "Stopped")

    assert "cannot be decreased" in error_of(lambda: sagemaker.update_notebook_instance(
        NotebookInstanceName="nb", VolumeSizeInGB=5))[1]
    assert "needs a new notebook instance" in error_of(lambda: sagemaker.update_notebook_instance(
        NotebookInstanceName="nb", PlatformIdentifier="notebook-al2023-v1"))[1]
    sagemaker.update_notebook_instance(NotebookInstanceName="nb",
                                       PlatformIdentifier="notebook-al2-v3")
    assert wait_status(sagemaker, "nb", "Stopped")["PlatformIdentifier"] == "notebook-al2-v3"


def test_duplicates_unknown_roles_and_networks_are_refused(
        aws: Emulator, sagemaker: BaseClient, network: Network, client: MakeClient) -> None:
    create(sagemaker)
    assert error_of(lambda: create(sagemaker))[1].startswith(
        "Cannot create a duplicate Notebook Instance")
    assert "does not exist" in error_of(lambda: sagemaker.create_notebook_instance(
        NotebookInstanceName="other", InstanceType="ml.t3.medium",
        RoleArn="arn:aws:iam::123456789012:role/missing"))[1]
    assert "give a SubnetId" in error_of(lambda: create(
        sagemaker, "offline", DirectInternetAccess="Disabled"))[1]
    other_vpc = client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    foreign = client("ec2").create_security_group(GroupName="x", Description="x",
                                                  VpcId=other_vpc)["GroupId"]
    assert "not in the subnet's VPC" in error_of(lambda: create(
        sagemaker, "wrong-vpc", SubnetId=network.subnet_ids[0], SecurityGroupIds=[foreign]))[1]
    create(sagemaker, "in-vpc", SubnetId=network.subnet_ids[0], DirectInternetAccess="Disabled")
    described = sagemaker.describe_notebook_instance(NotebookInstanceName="in-vpc")
    assert described["SubnetId"] == network.subnet_ids[0]
    assert described["NetworkInterfaceId"].startswith("eni-")
    assert len(described["SecurityGroups"]) == 1  # the VPC's default group


def test_lifecycle_scripts_run_for_real_on_create_then_on_every_start(
        aws: Emulator, sagemaker: BaseClient) -> None:
    script_config(sagemaker, "marks",
                  on_create='echo created >>"$STUDIO_OPERATOR_VOLUME/hooks.txt"\n',
                  on_start=('echo "started $AWS_DEFAULT_REGION" '
                            '>>"$STUDIO_OPERATOR_VOLUME/hooks.txt"\n'))
    create(sagemaker, LifecycleConfigName="marks")
    wait_status(sagemaker, "nb", "InService")
    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "Stopped")
    sagemaker.start_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "InService")

    hooks = (aws.notebook_folder("nb") / "SageMaker" / "hooks.txt").read_text().splitlines()
    assert hooks == ["created", "started us-east-1", "started us-east-1"]
    listed = sagemaker.list_notebook_instances()["NotebookInstances"]
    assert [(i["NotebookInstanceName"], i["NotebookInstanceLifecycleConfigName"])
            for i in listed] == [("nb", "marks")]


def test_a_failing_or_overrunning_script_fails_the_instance(
        aws: Emulator, sagemaker: BaseClient) -> None:
    aws.set_notebook_script_timeout(1.0)
    script_config(sagemaker, "broken", on_start="exit 3\n")
    script_config(sagemaker, "slow", on_start="sleep 30\n")
    create(sagemaker, "a", LifecycleConfigName="broken")
    started = time.monotonic()
    create(sagemaker, "b", LifecycleConfigName="slow")

    failed = wait_status(sagemaker, "a", "Failed")
    overran = wait_status(sagemaker, "b", "Failed")

    assert "exited with status 3" in failed["FailureReason"]
    assert "took longer than 1 seconds" in overran["FailureReason"]
    assert time.monotonic() - started < 10
    sagemaker.delete_notebook_instance(NotebookInstanceName="a")  # Failed may be deleted


def test_stopping_ends_what_the_scripts_left_running(
        aws: Emulator, sagemaker: BaseClient) -> None:
    script_config(sagemaker, "daemon", on_start=(
        'set -m\n(trap "" HUP; while true; do sleep 0.1; done) </dev/null >/dev/null 2>&1 &\n'
        'echo $! >"$STUDIO_OPERATOR_STATE_DIR/daemon.pid"\n'))
    create(sagemaker, LifecycleConfigName="daemon")
    wait_status(sagemaker, "nb", "InService")
    pid = int((aws.notebook_folder("nb") / "state" / "daemon.pid").read_text())
    assert _alive(pid)

    sagemaker.stop_notebook_instance(NotebookInstanceName="nb")
    wait_status(sagemaker, "nb", "Stopped")

    assert not _alive(pid)


def test_the_volume_belongs_to_the_platforms_ec2_user(
        aws: Emulator, sagemaker: BaseClient) -> None:
    if os.geteuid() != 0:
        pytest.skip("owners can only be given when the emulator runs as root")
    create(sagemaker, "old", PlatformIdentifier="notebook-al1-v1")
    create(sagemaker, "new", PlatformIdentifier="notebook-al2-v2")

    old = (aws.notebook_folder("old") / "SageMaker").stat()
    new = (aws.notebook_folder("new") / "SageMaker").stat()

    assert (old.st_uid, old.st_gid) == (500, 500)
    assert (new.st_uid, new.st_gid) == (1000, 1000)


def test_tags_and_lifecycle_config_updates(aws: Emulator, sagemaker: BaseClient) -> None:
    script_config(sagemaker, "cfg", on_start="true\n")
    arn = create(sagemaker, Tags=[{"Key": "team", "Value": "a"}], LifecycleConfigName="cfg")
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "b"}])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "b"}]
    new = base64.b64encode(b"echo v2\n").decode()
    sagemaker.update_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="cfg", OnStart=[{"Content": new}])
    described = sagemaker.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="cfg")
    assert described["OnStart"] == [{"Content": new}]
    assert "in use" in error_of(lambda: sagemaker.delete_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="cfg"))[1]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_background_job_still_holding_the_scripts_output_keeps_the_hook_running(
        aws: Emulator, sagemaker: BaseClient) -> None:
    aws.set_notebook_script_timeout(1.5)
    script_config(sagemaker, "leaky", on_start="sleep 30 &\necho started\n")
    script_config(sagemaker, "tidy", on_start="sleep 30 >/dev/null 2>&1 &\necho started\n")
    create(sagemaker, "leaky", LifecycleConfigName="leaky")
    create(sagemaker, "tidy", LifecycleConfigName="tidy")

    assert "took longer than 1.5 seconds" in wait_status(sagemaker, "leaky",
                                                          "Failed")["FailureReason"]
    assert wait_status(sagemaker, "tidy", "InService")
    log = aws.notebook_folder("tidy") / "logs" / "LifecycleConfigOnStart.log"
    assert log.read_text() == "started\n"
