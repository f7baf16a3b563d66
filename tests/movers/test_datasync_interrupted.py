"""A DataSync fill stopped mid-file (cancelled, or its Region's service gone down) and
then retried: the file it was writing stays truncated at the destination, and under
OverwriteMode NEVER a plain retry keeps it (the emulator's reading of
CancelTaskExecution, controller/emulator/README.md). The engine's retry must leave the
working copy exact, and keep what it did not copy (a file only the destination has)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.movers import CopyJob
from controller.movers.datasync import DataSyncStillRunning
from tests.movers.conftest import Region, client, make_region
from tests.movers.test_datasync import mover
from tests.snapshots.helpers import compare_trees, generate_tree

BIG = 3 << 20  # at 1 MiB/s: three seconds of writing to stop in


@pytest.fixture
def east(aws) -> Region:
    aws.set_transition_seconds(0.02)
    return make_region(aws, "us-east-1")


def _wait(what: str, ready: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def _partly_written(path: Path) -> bool:
    return path.is_file() and 0 < path.stat().st_size < BIG


def _ended(aws) -> dict:
    _wait("the execution end", lambda: all(
        e["Status"] in ("SUCCESS", "ERROR") for e in aws.datasync_executions()))
    (execution,) = aws.datasync_executions()
    return execution


def _start_and_stop(aws, east: Region, stop: Callable[[], None]) -> tuple[Path, Path, dict]:
    """Fill `home` with DataSync, stop it while it writes the big file; answer the two
    trees and the stopped execution."""
    source_fs, target_fs = east.file_systems
    source, target = aws.efs_root / source_fs / "home", aws.efs_root / target_fs / "home"
    generate_tree(source, files=60)
    (source / "big.bin").write_bytes(os.urandom(BIG))
    os.utime(source / "big.bin", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    aws.set_datasync_bandwidth(1 << 20)
    with pytest.raises(DataSyncStillRunning):
        mover(aws, east, follow_seconds=0.05).run(CopyJob(source_fs, target_fs, "working_copy"))
    _wait("big.bin half written", lambda: _partly_written(target / "big.bin"))
    stop()
    execution = _ended(aws)
    aws.clear_faults()
    aws.set_datasync_bandwidth(0)
    return source, target, execution


def _retried_is_exact(aws, east: Region, source: Path, target: Path) -> None:
    cut = (target / "big.bin").stat()
    assert cut.st_size < BIG and stat.S_IMODE(cut.st_mode) == 0o600, "left as written"
    (target / "mine.txt").write_text("only the destination has it")
    source_fs, target_fs = east.file_systems
    report = mover(aws, east).run(CopyJob(source_fs, target_fs, "working_copy"))
    assert report.ok
    assert (target / "mine.txt").read_text() == "only the destination has it"
    (target / "mine.txt").unlink()
    assert compare_trees(source, target) == []


def test_a_fill_cancelled_mid_file_is_exact_after_the_retry(aws, east):
    datasync = client(aws, "datasync", "us-east-1")

    def cancel() -> None:
        (execution,) = aws.datasync_executions()
        datasync.cancel_task_execution(TaskExecutionArn=execution["TaskExecutionArn"])
    source, target, stopped = _start_and_stop(aws, east, cancel)
    assert stopped["Result"]["ErrorCode"] == "OpCancelled"
    _retried_is_exact(aws, east, source, target)
    first, retry = datasync.list_task_executions()["TaskExecutions"]
    assert (first["Status"], retry["Status"]) == ("ERROR", "SUCCESS")
    options = datasync.describe_task_execution(TaskExecutionArn=retry["TaskExecutionArn"])
    assert options["Options"]["OverwriteMode"] == "ALWAYS", "the retry replaces what differs"


def test_a_fill_interrupted_by_a_region_outage_mid_file_is_exact_after_the_retry(aws, east):
    def outage() -> None:
        aws.set_faults(1.0, kinds=("5xx",), services={"datasync"}, regions={"us-east-1"})
    source, target, stopped = _start_and_stop(aws, east, outage)
    assert stopped["Result"]["ErrorCode"] == "TransferInterrupted"
    _retried_is_exact(aws, east, source, target)


def test_a_fill_that_never_failed_still_never_overwrites(aws, east):
    """No failure before: the task's own NEVER holds (a file already there is kept)."""
    source_fs, target_fs = east.file_systems
    (aws.efs_root / source_fs / "a.txt").write_text("from the replica")
    (aws.efs_root / target_fs / "a.txt").write_text("already there")
    mover(aws, east).run(CopyJob(source_fs, target_fs, "working_copy"))
    assert (aws.efs_root / target_fs / "a.txt").read_text() == "already there"
    (execution,) = aws.datasync_executions()
    assert execution["Options"]["OverwriteMode"] == "NEVER"


def test_pruning_keeps_a_task_whose_execution_failed_for_its_retry(aws, east):
    """Room is made from tasks that never failed first: a task made again for a failed
    fill would not know the failure, and its NEVER would keep the file cut short."""
    source_fs, target_fs = east.file_systems
    datasync = client(aws, "datasync", "us-east-1")
    engine = mover(aws, east, tasks_kept=2)
    (aws.efs_root / source_fs / "failed").mkdir()
    (aws.efs_root / source_fs / "failed" / "big.bin").write_bytes(os.urandom(BIG))
    aws.set_datasync_bandwidth(1 << 20)
    with pytest.raises(DataSyncStillRunning):
        mover(aws, east, follow_seconds=0.05, tasks_kept=2).run(
            CopyJob(source_fs, target_fs, "working_copy", "failed", "failed"))
    (execution,) = aws.datasync_executions()
    datasync.cancel_task_execution(TaskExecutionArn=execution["TaskExecutionArn"])
    _ended(aws)
    aws.set_datasync_bandwidth(0)
    failed_task = execution["TaskExecutionArn"].split("/execution/")[0]
    for name in ("later", "newest"):  # the second makes the engine prune one task
        (aws.efs_root / source_fs / name).mkdir()
        engine.run(CopyJob(source_fs, target_fs, "working_copy", name, name))
    kept = {t["TaskArn"] for t in datasync.list_tasks()["Tasks"]}
    assert len(kept) == 2 and failed_task in kept, "the older task that never failed went"
