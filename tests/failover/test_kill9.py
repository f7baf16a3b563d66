"""A controller killed with SIGKILL at each phase of a failover and of a failback: a
restarted controller finishes it, and nothing anyone wrote is lost.

The controller runs as a real `studioctl run` process. It is held inside the phase by
an emulator fault (the call it makes there hangs) or caught by the log line the phase
writes, then killed with SIGKILL: no cleanup runs. The restart is a fresh controller
reading the same status table.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.loop.failover import PK
from controller.status.store import DEFAULT_TABLE
from tests.converge.helpers import converge, file_system, plan_now, prepared, reconciler

# Each kills a real controller and runs a restarted one to the end (20-40 s): the
# second step of CI (make test-slow).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def flipped_copy(tmp_path: Path, active: str, strategy: str = "promote") -> Path:
    """The example estate with activeRegion (and the failover strategy) set."""
    target = tmp_path / f"desired-{active}-{strategy}"
    shutil.copytree(EXAMPLE, target)
    estate = target / "estate.yaml"
    estate.write_text(estate.read_text().replace(
        "activeRegion: us-east-1", f"activeRegion: {active}").replace(
        "strategy: promote", f"strategy: {strategy}"))
    return target


def kill_when(aws, tmp_path: Path, region: str, desired_dir: Path,
              seen: Callable[[list[dict]], bool], timeout: float = 60) -> list[dict]:
    """Run `studioctl run` for `region` until `seen(its log events)`, then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.main", "run", "--desired", str(desired_dir),
         "--region", region, "--endpoint-url", aws.endpoint_url, "--efs-root",
         str(aws.efs_root), "--metrics-port", "0", "--max-attempts", "1",
         "--resync-seconds", "1", "--lease-seconds", "0",
         "--workdir", str(tmp_path / f"work-{region}")],
        cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    events: list[dict] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not seen(list(events)):
            assert process.poll() is None, f"exited early: {events[-5:]}"
            assert time.monotonic() < deadline, f"never reached: {events[-5:]}"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    aws.clear_faults()
    return events


def hangs_in(aws, operation: str) -> Callable[[list[dict]], bool]:
    """Every `operation` call hangs; the controller is killed once it is inside one."""
    aws.reset_request_counts()
    aws.set_faults(rate=1.0, kinds=("timeout",), operations={operation}, timeout_seconds=20)

    def seen(_events: list[dict]) -> bool:
        return aws.request_counts().get(operation, 0) > 0
    return seen


def logged(**fields: str) -> Callable[[list[dict]], bool]:
    def seen(events: list[dict]) -> bool:
        return any(all(e.get(k) == v for k, v in fields.items()) for e in events)
    return seen


def recorded_phase(aws, region: str) -> str:
    table = boto3.resource("dynamodb", region_name=region,
                           endpoint_url=aws.endpoint_url).Table(DEFAULT_TABLE)
    return table.get_item(Key={"pk": PK}).get("Item", {}).get("phase", "")



def primary_converged_with_files(aws) -> tuple[object, ManualClock, Path, dict[str, str]]:
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    mount = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    files = {f"home/research/alice/notebook-{i}.ipynb": f"cells {i}" for i in range(20)}
    for path, text in files.items():
        (mount / path).write_text(text)
    aws.sync_replication()
    return desired, clock, mount, files


def promoted_copy(aws) -> Path:
    return aws.efs_root / file_system(aws, REPLICA)["FileSystemId"]


@pytest.mark.parametrize("phase, operation", [
    ("Promoting", "efs:DeleteReplicationConfiguration"),
    ("Converging", "sagemaker:CreateUserProfile"),
])
def test_killed_mid_failover_a_restarted_controller_finishes_it(aws, tmp_path, phase,
                                                                  operation):
    _, clock, _, files = primary_converged_with_files(aws)
    flipped_dir = flipped_copy(tmp_path, REPLICA)
    kill_when(aws, tmp_path, REPLICA, flipped_dir, hangs_in(aws, operation))
    assert recorded_phase(aws, REPLICA) == phase, "the phase was recorded before it started"

    flipped = load_desired_state(flipped_dir)
    restarted = reconciler(aws, clock, region=REPLICA)
    converge(restarted, flipped, clock)
    assert restarted.failover is not None and restarted.failover.record.phase == "Complete"
    assert plan_now(aws, flipped, REPLICA).actions == ()
    new = promoted_copy(aws)
    assert {p: (new / p).read_text() for p in files} == files
    sagemaker = boto3.client("sagemaker", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    profiles = [p["UserProfileName"] for p in sagemaker.list_user_profiles(
        MaxResults=100)["UserProfiles"]]
    assert sorted(profiles) == sorted(p.name for p in flipped.profiles.values()), (
        "each profile once: no duplicates from the killed run")


@pytest.mark.parametrize("phase, operation", [
    ("Fencing", "efs:PutFileSystemPolicy"),
    ("Saving", None),  # killed while the old copy is being saved (its progress line)
    ("ReadyForFailback", "dynamodb:PutItem"),  # protection off, not yet recorded
])
def test_killed_mid_failback_a_restarted_controller_finishes_it_losing_nothing(
        aws, tmp_path, phase, operation):
    desired, clock, old, files = primary_converged_with_files(aws)
    flipped_dir = flipped_copy(tmp_path, REPLICA)
    flipped = load_desired_state(flipped_dir)
    converge(reconciler(aws, clock, region=REPLICA), flipped, clock)
    # Written in the old region after the failover: 3,000 files only it holds.
    late = {f"home/research/bob/late/{i:04d}.txt": f"late {i}" for i in range(3000)}
    (old / "home/research/bob/late").mkdir()
    for path, text in late.items():
        (old / path).write_text(text)

    seen = logged(event="saving_unreplicated")
    if operation is None:
        # Fence in-process first, so the killed process goes straight to saving.
        standby = reconciler(aws, clock, region=PRIMARY)
        standby.reconcile(flipped)
        clock.advance(60)
    elif phase == "ReadyForFailback":
        seen = logged(action="AllowReplicationOverwrite")
        standby = reconciler(aws, clock, region=PRIMARY)
        for _ in range(2):  # fenced, then saved
            standby.reconcile(flipped)
            clock.advance(60)
        # Its status writes hang (the revision's first: a short hang, then it goes on).
        aws.set_faults(rate=1.0, kinds=("timeout",), operations={operation},
                       timeout_seconds=2)
    else:
        seen = hangs_in(aws, operation)
    events = kill_when(aws, tmp_path, PRIMARY, flipped_dir, seen)
    if operation is None:
        assert not any(e.get("event") == "unreplicated_writes_saved" for e in events), (
            "killed in the middle of saving")

    restarted = reconciler(aws, clock, region=PRIMARY)
    converge(restarted, flipped, clock)
    protection = file_system(aws, PRIMARY)["FileSystemProtection"][
        "ReplicationOverwriteProtection"]
    assert protection == "DISABLED"
    new = promoted_copy(aws)
    (folder,) = (new / RECOVERY_ROOT).iterdir()
    assert {p: (folder / p).read_text() for p in late} == late, "every late write saved"
    listed = (folder / RECOVERY_MANIFEST).read_text()
    assert sum(1 for line in listed.splitlines() if line.startswith("missing\t")) == 3001
    assert not list(folder.rglob(".studio-copy-*")), "no half-written leftovers"
    # Then the active region replicates back, and the old copy holds everything again.
    converge(reconciler(aws, clock, region=REPLICA), flipped, clock)
    aws.sync_replication()
    assert {p: (old / p).read_text() for p in files} == files
    assert (old / RECOVERY_ROOT / folder.name / "home/research/bob/late/2999.txt").exists()
    assert restarted.failover is not None
    restarted.reconcile(flipped)
    assert restarted.failover.record.phase in ("Replicating", "InSync")


def test_killed_while_strategy_copy_fills_the_working_copy_a_restart_finishes_it(
        aws, tmp_path):
    desired = prepared(aws, load_desired_state(flipped_copy(tmp_path, PRIMARY, "copy")))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    mount = aws.efs_root / file_system(aws, PRIMARY)["FileSystemId"]
    data = mount / "home/research/carol/data"
    data.mkdir()
    files = {f"home/research/carol/data/{i:05d}.csv": f"row {i}\n" * 20 for i in range(12000)}
    for path, text in files.items():
        (mount / path).write_text(text)
    aws.sync_replication()
    flipped_dir = flipped_copy(tmp_path, REPLICA, "copy")

    events = kill_when(aws, tmp_path, REPLICA, flipped_dir,
                       logged(event="working_copy_progress"), timeout=120)
    assert not any(e.get("action") == "FillWorkingCopy" for e in events), "killed mid-copy"
    assert recorded_phase(aws, REPLICA) == "Promoting"

    flipped = load_desired_state(flipped_dir)
    restarted = reconciler(aws, clock, region=REPLICA)
    converge(restarted, flipped, clock)
    assert restarted.failover is not None and restarted.failover.record.phase == "Complete"
    efs = boto3.client("efs", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    working = next(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                   if f.get("Name") == "studio-efs-working-copy")
    copied = aws.efs_root / working
    assert {p: (copied / p).read_text() for p in files} == files
    assert not list(copied.rglob(".studio-copy-*")), "no half-written leftovers"
