"""Small helpers the emulator's tests share (fixtures are in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/studio-execution-role"


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: list[str]


def make_network(ec2: BaseClient, zones: tuple[str, ...]) -> Network:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    return Network(vpc_id, subnets)


def create_domain(
    sagemaker: BaseClient, network: Network, name: str = "research", **extra: Any
) -> str:
    settings = extra.pop("DefaultUserSettings", {"ExecutionRole": ROLE})
    auth_mode = extra.pop("AuthMode", "IAM")
    return str(
        sagemaker.create_domain(
            DomainName=name,
            AuthMode=auth_mode,
            DefaultUserSettings=settings,
            VpcId=network.vpc_id,
            SubnetIds=network.subnet_ids,
            **extra,
        )["DomainId"]
    )


def wait_for(read: Callable[[], Any], expected: Any, timeout: float = 3.0) -> list[Any]:
    """Poll `read` until it returns `expected`; the distinct values seen, in order."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == expected:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s (saw {seen})")
        time.sleep(0.01)


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    """The AWS error code and HTTP status a call fails with."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded but an AWS error was expected")
