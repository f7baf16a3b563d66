"""studioctl's errors read as one line and a documented exit code, never a traceback: a
busy port, no credentials for the local emulator, a refused revision in `status`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.main import build_parser, main
from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.controller import Controller, Timing
from controller.source import FolderSource
from tests.converge.helpers import REGION, prepared, reconciler

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "desired_state"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        yield taken.getsockname()[1]


def _studioctl(*argv: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli.main", *argv], cwd=ROOT,
                          env={**(env or os.environ), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=timeout)


def test_run_with_a_busy_metrics_port_says_so_in_one_line_and_exits_1(busy_port, tmp_path):
    result = _studioctl("run", "--desired", str(EXAMPLE), "--region", REGION,
                        "--endpoint-url", "http://127.0.0.1:1", "--metrics-port",
                        str(busy_port), "--workdir", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line == (f"studioctl: cannot serve metrics on 127.0.0.1:{busy_port}: the port is "
                    "in use (another studioctl?); choose another with --metrics-port")


def test_demo_with_a_busy_port_says_which_and_exits_1(busy_port, tmp_path, capsys):
    assert main(["demo", "--port", "0", "--metrics-port", str(busy_port),
                 "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"studioctl: cannot serve metrics on 127.0.0.1:{busy_port}: the port is in use "
        "(another studioctl?); choose another with --metrics-port (make run METRICS_PORT=...)"]
    assert main(["demo", "--port", str(busy_port), "--metrics-port", "0",
                 "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"studioctl: cannot start the AWS emulator on 127.0.0.1:{busy_port}: the port is in "
        "use (another studioctl?); choose another with --port (make run PORT=...)"]


def test_the_readme_status_example_works_with_no_credentials_configured(aws):
    """README: `.venv/bin/studioctl status --region us-east-1 --endpoint-url http://...`,
    typed in a new terminal where no AWS credentials exist."""
    desired = prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws).reconcile(desired)
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    bare.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                 "AWS_EC2_METADATA_DISABLED": "true", "HOME": str(aws.data_dir)})
    result = _studioctl("status", "--region", REGION, "--endpoint-url", aws.endpoint_url,
                        env=bare)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^UserProfile +research/alice ", result.stdout, re.MULTILINE)


def test_without_credentials_real_aws_is_still_refused_plainly():
    """The dummy credentials are for a loopback emulator only, never sent anywhere else."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    bare.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                 "AWS_EC2_METADATA_DISABLED": "true"})
    result = _studioctl("status", "--region", REGION, "--endpoint-url",
                        "https://dynamodb.us-east-1.amazonaws.invalid", env=bare)
    assert result.returncode == 1
    assert "Unable to locate credentials" in result.stderr


def test_status_exits_2_when_the_newest_revision_was_refused(aws, tmp_path, capsys):
    broken = tmp_path / "desired"
    shutil.copytree(EXAMPLE, broken)
    research = broken / "research.yaml"
    research.write_text(research.read_text().replace("uid: 200101", "uid: 12"))
    clock = ManualClock()
    controller = Controller(FolderSource(broken), reconciler(aws, clock), clock,
                            Timing(resync_seconds=300, poll_seconds=300))
    controller.tick()  # refuses the revision and records it in the status table
    for output in ("text", "json"):
        assert main(["status", "--region", REGION, "--endpoint-url", aws.endpoint_url,
                     "--output", output]) == 2
    assert "refused" in capsys.readouterr().err


def test_make_run_moves_both_ports():
    dry = subprocess.run(["make", "-n", "run", "PORT=5123", "METRICS_PORT=9123"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    command = dry.replace("\\\n", " ")
    demo = next(line for line in command.splitlines() if "studioctl demo" in line)
    args = build_parser().parse_args(shlex.split(demo.split("studioctl", 1)[1]))
    assert (args.command, args.port, args.metrics_port) == ("demo", 5123, 9123)
