"""The executors that move data go through the data movers: with no file system mounted
where the controller runs, a working copy is filled and late writes are saved by a worker
task; with nothing mounted and no worker, they say so as before."""

from __future__ import annotations

import pytest

from controller.actions.context import ExecutionContext
from controller.actions.fencing import save_unreplicated_writes
from controller.actions.working_copies import fill_working_copy
from controller.errors import RequeueAfter, TerminalError
from controller.fencing import COPIED_AT_TAG
from controller.gateway import AwsGateway
from controller.plan.types import Action, Kind, ResourceKey, Verb
from tests.movers.conftest import client
from tests.movers.test_local_mover import make_tree, snapshot_of


def fill_action(replica: str, working: str) -> Action:
    return Action("FillWorkingCopy", Verb.UPDATE, ResourceKey(Kind.FILE_SYSTEM, "us-east-1",
                                                              "studio-efs"),
                  params={"FileSystemId": working, "ReplicaId": replica,
                          "LogicalName": "studio-efs", "Refresh": False})


def test_a_working_copy_is_filled_by_a_worker_when_the_controller_mounts_neither(aws, east):
    replica, working = east.file_systems
    make_tree(aws.efs_root / replica)
    ctx = ExecutionContext(AwsGateway(endpoint_url=aws.endpoint_url), "us-east-1", None, "r1",
                           worker_mover=east.mover(aws))
    message = fill_working_copy(fill_action(replica, working), ctx)
    assert message.startswith(f"filled {working} from {replica}: ")
    assert snapshot_of(aws.efs_root / working) == snapshot_of(aws.efs_root / replica)
    tags = client(aws, "efs", "us-east-1").describe_file_systems(FileSystemId=working)[
        "FileSystems"][0]["Tags"]
    assert COPIED_AT_TAG in {t["Key"] for t in tags}
    assert len(aws.worker_tasks()) == 1


def test_late_writes_are_saved_by_a_worker_when_the_controller_mounts_neither(aws, east):
    old, active = east.file_systems
    make_tree(aws.efs_root / old)
    make_tree(aws.efs_root / active)
    (aws.efs_root / old / "home/alice/late\tname.txt").write_text("late")
    ctx = ExecutionContext(AwsGateway(endpoint_url=aws.endpoint_url), "us-east-1", None, "r1",
                           worker_mover=east.mover(aws))
    _assert_the_late_write_saved(aws, ctx, "us-east-1", old, active)


def test_without_a_mount_or_a_worker_the_executors_wait_or_refuse(aws, east, tmp_path):
    replica, working = east.file_systems
    gateway = AwsGateway(endpoint_url=aws.endpoint_url)
    with pytest.raises(TerminalError, match="no --efs-root and no worker") as refused:
        fill_working_copy(fill_action(replica, working),
                          ExecutionContext(gateway, "us-east-1", None, "r1"))
    assert refused.value.reason == "NotMounted"
    (tmp_path / replica).mkdir()
    with pytest.raises(RequeueAfter, match=working):
        fill_working_copy(fill_action(replica, working),
                          ExecutionContext(gateway, "us-east-1", tmp_path, "r1"))
    assert aws.worker_tasks() == []


def test_failbacks_save_crosses_regions_through_s3_when_the_copies_are_apart(aws, east):
    from controller.movers.regions import RegionalWorkers
    from tests.movers.conftest import make_region

    west = make_region(aws, "us-west-2", file_systems=1)
    old, active = west.file_systems[0], east.file_systems[0]
    make_tree(aws.efs_root / old)
    make_tree(aws.efs_root / active)
    (aws.efs_root / old / "home/alice/late\tname.txt").write_text("late")
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=8)
    ctx = ExecutionContext(gateway, "us-east-1", None, "r1", worker_mover=RegionalWorkers(
        gateway, [east.mover(aws), west.mover(aws)]))
    _assert_the_late_write_saved(aws, ctx, "us-west-2", old, active)
    assert {t["taskArn"].split(":")[3] for t in aws.worker_tasks()} == {"us-east-1",
                                                                      "us-west-2"}


def _assert_the_late_write_saved(aws, ctx, region, old, active):
    """Failback's save of `old`'s late write (a name with a tab) into `active`'s recovery
    folder, escaped in the message and the list of saved files."""
    action = Action("SaveUnreplicatedWrites", Verb.CREATE,
                    ResourceKey(Kind.FENCE, region, "studio-efs/recovery"),
                    params={"FileSystemId": old, "ActiveFileSystemId": active,
                            "Folder": "failback-x", "LogicalName": "studio-efs"})
    message = save_unreplicated_writes(action, ctx)
    assert "saved 1 entries" in message and "late\\tname.txt" in message, message
    recovery = aws.efs_root / active / ".studio-operator-recovery/failback-x"
    assert (recovery / "home/alice/late\tname.txt").read_text() == "late"
    assert "late\\tname.txt" in (recovery / "saved-files.txt").read_text()
