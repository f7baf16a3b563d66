"""SIGTERM during a pass: the actions in flight finish, no new one starts, the controller
exits 0, and the next run finishes the work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3

from controller.desired import load_desired_state
from tests.converge.helpers import REGION, plan_now, prepared, reconciler

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "desired_state"


def test_sigterm_mid_pass_exits_cleanly_and_the_next_run_finishes_the_work(aws, tmp_path):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    # Every profile creation hangs for a while and then fails: the pass is long.
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={"CreateUserProfile"},
                   timeout_seconds=0.7)
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "run", "--desired", str(EXAMPLE),
         "--region", REGION, "--endpoint-url", aws.endpoint_url, "--efs-root",
         str(aws.efs_root), "--metrics-port", "0", "--max-attempts", "1",
         "--max-concurrent-actions", "2",
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    events: list[dict] = []
    first_profile = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            events.append(event)
            if event.get("action") == "CreateUserProfile":
                first_profile.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first_profile.wait(60), f"no profile action seen: {events[-5:]}"
        process.send_signal(signal.SIGTERM)
        sent_at_signal = aws.request_counts().get("sagemaker:CreateUserProfile", 0)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    aws.clear_faults()
    assert code == 0
    assert events[-1]["event"] == "stopped"
    tried = [e for e in events if e.get("action") == "CreateUserProfile"]
    sent = aws.request_counts().get("sagemaker:CreateUserProfile", 0)
    # Two workers: at most their two calls were still on the way to AWS when the signal
    # was sent (however loaded the machine, and so however many had been made before);
    # nothing started after it, and every call made was finished and logged.
    assert sent - sent_at_signal <= 2, "nothing new started after SIGTERM"
    assert 1 <= len(tried) == sent < 7, "stopped mid-pass, after the actions in flight"
    passes = [e for e in events if e["event"] == "pass"]
    assert [(p["result"], p["interrupted"]) for p in passes] == [("partial", True)]
    # the next run finishes what was left
    time.sleep(0.1)
    result = reconciler(aws).reconcile(desired)
    assert {o.outcome for o in result.outcomes} == {"ok"}
    assert plan_now(aws, desired).actions == ()
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    assert len(sagemaker.list_domains()["Domains"]) == 2
