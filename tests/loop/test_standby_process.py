"""A real `studioctl run` standing by behind another replica's lease: ready on /readyz,
and quiet towards DynamoDB (a try every third of the lease, not twenty a second)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from controller.clock import SystemClock
from controller.desired import load_desired_state
from controller.gateway import AwsGateway
from controller.loop.lease import Lease
from tests.converge.helpers import REGION, prepared, reconciler

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "desired_state"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_standby_studioctl_run_is_ready_and_quiet(aws, tmp_path):
    prepared(aws, load_desired_state(EXAMPLE))
    reconciler(aws)  # makes the status table
    leader = Lease(AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2), REGION,
                   "studio-operator-status", SystemClock(), "the-leader",
                   duration_seconds=3600)
    assert leader.hold()
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "run", "--desired", str(EXAMPLE),
         "--region", REGION, "--endpoint-url", aws.endpoint_url, "--efs-root",
         str(aws.efs_root), "--metrics-port", "0", "--lease-seconds", "30",
         "--holder-id", "standby", "--workdir", str(tmp_path / "work")],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    events: list[dict] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            events.append(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not any(e["event"] == "standing_by" for e in events):
            assert process.poll() is None, events[-5:]
            assert time.monotonic() < deadline, events[-5:]
            time.sleep(0.05)
        (started,) = [e for e in events if e["event"] == "started"]
        metrics = started["metrics"]
        assert metrics.startswith("http://127.0.0.1:"), "loopback by default"
        ready = metrics.replace("/metrics", "/readyz")
        while _status(ready) != 200:
            assert time.monotonic() < deadline, "a standby is ready"
            time.sleep(0.05)
        aws.reset_request_counts()
        time.sleep(3)
        counts = aws.request_counts()
        assert sum(counts.values()) <= 2, counts  # at most one try (put, read) in 3 s
        with urllib.request.urlopen(metrics, timeout=5) as answer:
            assert b"\nstudio_operator_leader 0.0\n" in answer.read()
        (standing_by,) = [e for e in events if e["event"] == "standing_by"]
        assert standing_by["level"] == "info" and standing_by["leader"] == "the-leader"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
