"""An estate in a GovCloud-like partition: every ARN the operator sends is one AWS gave it
(arn:aws-us-gov:...), never one built by hand as arn:aws:..., and the CloudFormation
templates name the partition through ${AWS::Partition}."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.emulator import Emulator, prepare_estate
from controller.gateway import AwsGateway
from controller.loop.factory import make_reconciler
from controller.loop.workqueue import Backoff
from tests.converge.helpers import converge
from tests.example_estate import copy_example, turn_on_space_backup

ROOT = Path(__file__).resolve().parents[2]
PRIMARY, REPLICA = "us-gov-west-1", "us-gov-east-1"
ROLE = "arn:aws-us-gov:iam::123456789012:role/studio-execution-role"


def _govcloud_estate(tmp_path: Path) -> Path:
    folder = copy_example(tmp_path / "gov")
    for path in folder.glob("*.yaml"):
        text = path.read_text().replace("us-east-1", PRIMARY).replace("us-west-2", REPLICA)
        path.write_text(text.replace("executionRole: studio-execution-role",
                                     f"executionRole: {ROLE}"))
    turn_on_space_backup(folder)
    return folder


class RecordingSession:
    """boto3 sessions whose every request (URL and body) is kept, for the gateway."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __call__(self) -> boto3.session.Session:
        session = boto3.session.Session()
        session.events.register("before-send", self._record)
        return session

    def _record(self, request: Any, **_: Any) -> None:
        body = request.body or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        self.requests.append(f"{request.url}\n{text}")


def test_a_govcloud_estate_converges_with_only_the_arns_aws_returned(aws: Emulator, tmp_path):
    boto3.client("iam", region_name=PRIMARY, endpoint_url=aws.endpoint_url).create_role(
        RoleName="studio-execution-role", AssumeRolePolicyDocument="{}")
    desired = load_desired_state(_govcloud_estate(tmp_path))
    prepare_estate(aws.endpoint_url, desired, aws.efs_root)
    recording = RecordingSession()
    gateway = AwsGateway(recording, endpoint_url=aws.endpoint_url, max_attempts=3)
    clock = ManualClock()
    primary = make_reconciler(gateway, PRIMARY, aws.efs_root, clock,
                              backoff=Backoff(base_seconds=1, max_seconds=30), seed=1)
    converge(primary, desired, clock)
    standby = make_reconciler(gateway, REPLICA, aws.efs_root, clock, seed=1)
    standby.reconcile(desired)
    sent = "\n".join(recording.requests)
    assert "arn:aws:" not in sent and "arn%3Aaws%3A" not in sent
    # The ARNs that did go out are GovCloud's: the role, and the lifecycle configs that
    # CreateStudioLifecycleConfig returned (attached by CreateDomain).
    assert ROLE in sent
    assert re.search(r"arn:aws-us-gov:sagemaker:us-gov-west-1:\d{12}:studio-lifecycle-config/"
                     r"studio-op-research-jl-", sent)
    sagemaker = boto3.client("sagemaker", region_name=PRIMARY, endpoint_url=aws.endpoint_url)
    domains = sagemaker.list_domains()["Domains"]
    assert sorted(d["DomainName"] for d in domains) == ["analytics", "research"]
    assert all(d["DomainArn"].startswith("arn:aws-us-gov:sagemaker:") for d in domains)


def test_the_cloudformation_templates_name_the_partition_not_aws():
    for template in sorted((ROOT / "infra" / "cloudformation").glob("*.yaml")):
        text = template.read_text()
        hand_built = [line.strip() for line in text.splitlines()
                      if "arn:aws:" in line and not line.strip().startswith("#")]
        assert hand_built == [], f"{template.name} builds ARNs for one partition: {hand_built}"
        if "arn:" in text:  # a template that builds an ARN builds it in the partition
            assert "${AWS::Partition}" in text, template.name
