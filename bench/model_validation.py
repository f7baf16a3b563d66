"""Benchmark: what checking every request against its service model costs, per call.

One emulator, one run, the same calls with the model check on and off, alternating
rounds so both see the same machine. The calls are the kinds a reconcile pass makes, one
per protocol the check reads: SageMaker (json) DescribeDomain, ListUserProfiles and an
UpdateUserProfile with settings, EFS (rest-json) DescribeFileSystems, EC2
DescribeSubnets with filters, IAM (query) GetRole. Beside the end-to-end times, the check
alone is timed in-process on the same requests (ModelValidator.check), which is the
number that does not move with the HTTP round trip. Writes a JSON report.

    python bench/model_validation.py [--calls 200] [--rounds 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.emulator import start_emulator  # noqa: E402
from controller.emulator.validation import ModelValidator  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/studio-execution-role"


def prepare(endpoint: str) -> dict[str, Callable[[], Any]]:
    """An estate of one domain and one profile, and the calls to time against it."""
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    ec2, efs, iam, sagemaker = client("ec2"), client("efs"), client("iam"), client("sagemaker")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    iam.create_role(RoleName="studio-execution-role", AssumeRolePolicyDocument="{}")
    fs = efs.create_file_system(CreationToken="bench")["FileSystemId"]
    domain = sagemaker.create_domain(DomainName="bench", AuthMode="IAM", VpcId=vpc,
                                     SubnetIds=[subnet],
                                     DefaultUserSettings={"ExecutionRole": ROLE})["DomainId"]
    sagemaker.create_user_profile(DomainId=domain, UserProfileName="alice")
    settings = {"CustomPosixUserConfig": {"Uid": 200101, "Gid": 1001},
                "CustomFileSystemConfigs": [{"EFSFileSystemConfig": {
                    "FileSystemId": fs, "FileSystemPath": "/home/bench/alice"}}]}
    return {
        "sagemaker:DescribeDomain (json)": lambda: sagemaker.describe_domain(DomainId=domain),
        "sagemaker:ListUserProfiles (json)": lambda: sagemaker.list_user_profiles(
            DomainIdEquals=domain, MaxResults=100),
        "sagemaker:UpdateUserProfile (json, nested settings)":
            lambda: sagemaker.update_user_profile(DomainId=domain, UserProfileName="alice",
                                                  UserSettings=settings),
        "efs:DescribeFileSystems (rest-json)": lambda: efs.describe_file_systems(
            FileSystemId=fs),
        "ec2:DescribeSubnets (ec2, filters)": lambda: ec2.describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "tag:Name", "Values": ["a", "b"]}]),
        "iam:GetRole (query)": lambda: iam.get_role(RoleName="studio-execution-role"),
    }


def time_calls(call: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def check_alone(emu: Any, calls: dict[str, Callable[[], Any]], count: int) -> dict[str, float]:
    """The check by itself, in-process, on each call's real request (captured once)."""
    captured: dict[str, Any] = {}
    original = emu._checks[0].check  # noqa: SLF001 - a benchmark may look inside

    def capture(request: Any) -> Any:
        captured.setdefault(request.key, request)
        return original(request)

    emu._checks[0].check = capture  # noqa: SLF001
    for call in calls.values():
        call()
    emu._checks[0].check = original  # noqa: SLF001
    validator = ModelValidator()
    alone: dict[str, float] = {}
    for key, request in captured.items():
        validator.check(request)  # load the model outside the timing
        started = time.perf_counter()
        for _ in range(count):
            if validator.check(request) is not None:
                raise SystemExit(f"{key} was refused: the benchmark's calls must be valid")
        alone[key] = (time.perf_counter() - started) / count * 1e6
    return alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "model_validation.json")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    with tempfile.TemporaryDirectory() as data, start_emulator(Path(data)) as emu:
        calls = prepare(emu.endpoint_url)
        for call in calls.values():  # warm: models loaded, connections open
            call()
        on: dict[str, list[float]] = {k: [] for k in calls}
        off: dict[str, list[float]] = {k: [] for k in calls}
        for round_ in range(args.rounds):
            # Alternate which goes first, so neither always meets a warmer machine.
            order = ((True, on), (False, off)) if round_ % 2 == 0 else ((False, off), (True, on))
            for enabled, into in order:
                emu.set_model_checks(enabled)
                for key, call in calls.items():
                    into[key].append(time_calls(call, args.calls) * 1000)
        emu.set_model_checks(True)
        alone = check_alone(emu, calls, args.calls * 5)
    report: dict[str, Any] = {"benchmark": "model_validation", "calls_per_kind_and_round":
                              args.calls, "rounds": args.rounds, "per_call": {}}
    for key in calls:
        with_check, without = statistics.median(on[key]), statistics.median(off[key])
        report["per_call"][key] = {
            "ms_with_check": round(with_check, 3), "ms_without_check": round(without, 3),
            "ms_added": round(with_check - without, 3),
            "percent_added": round((with_check - without) / without * 100, 1),
        }
    report["check_alone_microseconds"] = {k: round(v, 1) for k, v in sorted(alone.items())}
    with_all = sum(statistics.median(v) for v in on.values())
    without_all = sum(statistics.median(v) for v in off.values())
    report["all_kinds"] = {
        "ms_with_check": round(with_all, 3), "ms_without_check": round(without_all, 3),
        "percent_added": round((with_all - without_all) / without_all * 100, 1),
        "check_alone_ms": round(sum(alone.values()) / 1000, 3),
        "note": "one call of each kind; the end-to-end difference moves with the machine's "
                "load, the check alone (in-process, same requests) does not",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
