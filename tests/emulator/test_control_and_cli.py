"""The /_emulator/ control endpoints, and `studioctl emulator` run in the foreground."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3

from controller.cli import emulator_cmd

ROOT = Path(__file__).resolve().parents[2]


def control(aws, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{aws.endpoint_url}/_emulator{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_transition_time_and_replication_interval_are_set_over_http(aws, client, network):
    status, config = control(
        aws, "POST", "/config", {"transition_seconds": 5, "replication_interval_seconds": 0.5}
    )
    assert status == 200
    assert (config["transition_seconds"], config["replication_interval_seconds"]) == (5, 0.5)
    assert aws.transition_seconds == 5
    sagemaker = client("sagemaker")
    domain_id = sagemaker.create_domain(
        DomainName="d",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": "arn:aws:iam::123456789012:role/r"},
        VpcId=network.vpc_id,
        SubnetIds=network.subnet_ids,
    )["DomainId"]
    assert sagemaker.describe_domain(DomainId=domain_id)["Status"] == "Pending"


def test_faults_counts_and_reset_over_http(aws, client):
    assert control(
        aws, "POST", "/faults", {"rate": 1.0, "kinds": ["throttle"], "services": ["efs"]}
    )[1]["active"]
    efs = client("efs", attempts=1)
    try:
        efs.describe_file_systems()
        raise AssertionError("expected a throttle")
    except efs.exceptions.ThrottlingException:
        pass
    assert control(aws, "GET", "/faults")[1]["injected"] == {"throttle": 1}
    assert control(aws, "DELETE", "/faults")[1]["active"] is False
    assert control(aws, "GET", "/request-counts")[1] == {"efs:DescribeFileSystems": 1}
    efs.create_file_system(CreationToken="x")
    assert control(aws, "POST", "/reset")[0] == 200
    assert efs.describe_file_systems()["FileSystems"] == []
    assert control(aws, "POST", "/replication/sync")[1] == {"mirrored": 0}
    assert control(aws, "GET", "/nothing-here")[0] == 404
    assert control(aws, "POST", "/faults", {"kinds": ["throttle"]})[0] == 400
    down = {"rate": 1.0, "kinds": ["5xx"], "regions": ["us-east-1"]}
    assert control(aws, "POST", "/faults", down)[1]["regions"] == ["us-east-1"]
    assert client("efs", "us-west-2", attempts=1).describe_file_systems()["FileSystems"] == []


def test_the_emulator_command_prints_how_to_use_it_and_exits_0_on_sigterm(tmp_path):
    command = [
        sys.executable,
        "-m",
        "controller.cli.emulator_cmd",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "aws"),
        "--prepare",
        str(ROOT / "desired_state"),
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith("Serving"):
                break
        endpoint = next(line.split()[-1] for line in lines if line.startswith("AWS emulator"))
        hint = next(line for line in lines if line.startswith("Use it with    export "))
        assert any("created efs studio-efs" in line for line in lines)
        # The hint alone is enough for a client in a fresh terminal (no credentials there).
        exported = dict(pair.split("=", 1) for pair in hint.split("export ", 1)[1].split())
        assert exported["AWS_ENDPOINT_URL"] == endpoint
        bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        bare.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                     "AWS_EC2_METADATA_DISABLED": "true", **exported})
        listed = subprocess.run(
            [sys.executable, "-c", "import boto3; print(boto3.client('efs')"
             ".describe_file_systems()['FileSystems'][0]['FileSystemId'])"],
            env=bare, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        fs_id = listed.stdout.strip()
        assert (tmp_path / "aws" / "efs" / fs_id).is_dir()
        efs = boto3.client("efs", region_name="us-east-1", endpoint_url=endpoint)
        assert [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]] == [fs_id]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_invalid_desired_state_is_reported_one_problem_per_line_and_exits_1(tmp_path, capsys):
    (tmp_path / "estate.yaml").write_text("apiVersion: studio-operator.io/v1alpha1\nkind: Estate\n")
    parser = argparse.ArgumentParser()
    emulator_cmd.register(parser.add_subparsers())
    args = parser.parse_args(
        ["emulator", "--port", "0", "--data-dir", str(tmp_path / "aws"), "--prepare", str(tmp_path)]
    )
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "is invalid" in err
    assert str(tmp_path / "estate.yaml") in err


def test_a_new_emulator_in_the_same_process_starts_empty(tmp_path):
    import boto3

    from controller.emulator import start_emulator

    with start_emulator(tmp_path / "first") as first:
        efs = boto3.client("efs", region_name="us-east-1", endpoint_url=first.endpoint_url)
        efs.create_file_system(CreationToken="left-behind")
    with start_emulator(tmp_path / "second") as second:
        efs = boto3.client("efs", region_name="us-east-1", endpoint_url=second.endpoint_url)
        assert efs.describe_file_systems()["FileSystems"] == []
