"""The DataSync engine: an EFS-to-EFS bulk copy run by AWS DataSync in the controller's
region, for jobs that need none of the copy engine's conflict rules.

DataSync is used only when configured (`studioctl run --datasync-config`) and only for
filling a new working copy ("working_copy"): a save of late writes and the active-active
refresh keep the copy engine's rules (newer kept, conflicts reported) and never come
here, and the settings refuse any other purpose. The task's options: never overwrite,
keep owners, modes and times, copy only what changed, verify what was transferred (a
whole-tree verification would fail on every file the destination already had and keeps).

After an execution that did not succeed (cancelled, failed, interrupted), the file being
written may be left incomplete at the destination (CancelTaskExecution's API reference),
and NEVER would keep it as it is on the next execution. So once the task has an
execution in ERROR, every later one runs with OverwriteMode ALWAYS (TransferMode stays
CHANGED: only what differs is written again; nothing the source lacks is removed). That
is safe only because the destination is a working copy being filled: the plan
(controller.plan.working_copy) gives it to no share, domain or profile before the fill
has succeeded and tagged it, so nobody but the operator has written it yet.

Locations and tasks are found again, not made again: a location by its URI and the
operator's tag holding a digest of how it was made, a task by its name (a digest of its
two locations and options). They are kept after the job (a retried or repeated job
reuses them); before making a task, the operator's idle tasks beyond `tasks_kept` are
deleted with their locations, the oldest first, so the region's quota of 100 tasks is
never filled by the operator alone. A controller that restarts while an execution runs
finds it as the task's CurrentTaskExecutionArn and follows it: never a second one. This
module must not move data itself or decide what to move.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.movers.jobs import CopyJob, Job, MoverReport
from controller.movers.local import ProgressSink, Tick

ENGINE = "datasync"
NAME_PREFIX = "studio-operator-"
MADE_TAG = "studio-operator/datasync"  # value: the digest of what was asked for
NEVER_HERE = frozenset({"active_active", "recovery"})  # the copy engine's conflict rules
# Targets no user has reached before the job succeeds (see the module docstring): the
# only purposes whose retry may overwrite.
FRESH_TARGETS = frozenset({"working_copy"})
AFTER_FAILURE = {"OverwriteMode": "ALWAYS"}
OPTIONS = {"OverwriteMode": "NEVER", "TransferMode": "CHANGED",
           "VerifyMode": "ONLY_FILES_TRANSFERRED", "PreserveDeletedFiles": "PRESERVE",
           "PosixPermissions": "PRESERVE", "Uid": "INT_VALUE", "Gid": "INT_VALUE",
           "Mtime": "PRESERVE", "Atime": "BEST_EFFORT", "PreserveDevices": "NONE",
           "TaskQueueing": "ENABLED", "LogLevel": "OFF"}


class DataSyncFailed(RuntimeError):
    """The execution ended in ERROR (retried: the next attempt starts a new one)."""


class DataSyncStillRunning(RuntimeError):
    """Followed for follow_seconds and still running: the next attempt adopts it."""


class DataSyncQuotaExhausted(RuntimeError):
    """The region's DataSync task quota is full even without the operator's idle tasks."""


@dataclass(frozen=True)
class DataSyncSettings:
    """Where DataSync reaches the file systems in one region: a subnet in their VPC (in
    the zone of one of their mount targets) and security groups their mount targets let
    NFS in from."""

    region: str
    subnet_arn: str
    security_group_arns: tuple[str, ...]
    purposes: tuple[str, ...] = ("working_copy",)
    file_system_access_role_arn: str = ""
    access_points: tuple[tuple[str, str], ...] = ()  # file system id -> access point ARN
    # Groups for a mount target made for DataSync (else the groups of security_group_arns).
    mount_target_groups: tuple[str, ...] = ()
    poll_seconds: float = 10.0
    follow_seconds: float = 3600.0
    tasks_kept: int = 20

    def __post_init__(self) -> None:
        refused = NEVER_HERE & set(self.purposes)
        if refused:
            raise ValueError(f"{', '.join(sorted(refused))} keep the copy engine's conflict "
                             "rules and cannot go to DataSync")
        unknown = set(self.purposes) - FRESH_TARGETS
        if unknown:
            raise ValueError(f"DataSync fills only {', '.join(sorted(FRESH_TARGETS))} (a "
                             "target nobody else has written yet), not "
                             f"{', '.join(sorted(unknown))}")

    @classmethod
    def from_json(cls, region: str, text: str) -> DataSyncSettings:
        """{"subnetArn", "securityGroupArns", optional "purposes", "fileSystemAccessRoleArn",
        "accessPoints": {fs id: access point ARN}, "mountTargetGroups", "tasksKept"}.
        Raises ValueError."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the DataSync configuration is a JSON object")
        try:
            return cls(region=region, subnet_arn=str(data["subnetArn"]),
                       security_group_arns=tuple(map(str, data["securityGroupArns"])),
                       purposes=tuple(map(str, data.get("purposes", cls.purposes))),
                       file_system_access_role_arn=str(data.get("fileSystemAccessRoleArn", "")),
                       access_points=tuple(sorted((str(k), str(v)) for k, v in
                                                  data.get("accessPoints", {}).items())),
                       mount_target_groups=tuple(map(str, data.get("mountTargetGroups", ()))),
                       tasks_kept=int(data.get("tasksKept", cls.tasks_kept)))
        except KeyError as missing:
            raise ValueError(f"the DataSync configuration lacks {missing}") from missing


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:24]


class DataSyncMover:
    name = ENGINE

    def __init__(self, gateway: AwsGateway, settings: DataSyncSettings,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.gateway = gateway
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.log = get_logger(region=settings.region)

    def takes(self, job: Job) -> bool:
        return isinstance(job, CopyJob) and job.purpose in self.settings.purposes

    def _client(self, service: str = "datasync") -> Any:
        return self.gateway.client(service, self.settings.region)

    def run(self, job: Job, progress: ProgressSink | None = None) -> MoverReport:
        if not self.takes(job):
            raise ValueError(f"a {job.kind} job for {job.purpose} does not go to DataSync")
        assert isinstance(job, CopyJob)
        began = self.clock()
        source = self._location(job.source_fs, job.source_path)
        target = self._location(job.target_fs, job.target_path)
        task = self._task(source, target, job)
        execution = self._start(task)
        answer = self._follow(execution, progress, began)
        if answer["Status"] != "SUCCESS":
            result = answer.get("Result", {})
            raise DataSyncFailed(f"DataSync execution {execution} ended in "
                                 f"{result.get('ErrorCode', 'ERROR')}: "
                                 f"{result.get('ErrorDetail', '')}; started again")
        return MoverReport(
            kind="copy", engine=ENGINE, files=int(answer.get("FilesTransferred", 0)),
            bytes=int(answer.get("BytesWritten", 0)),
            skipped=int(answer.get("FilesSkipped", 0)),
            duration_seconds=self.clock() - began,
            extra={"task": task, "execution": execution,
                   "verified": int(answer.get("FilesVerified", 0))})

    # -- locations and tasks, found again by what they were made from -----------------------
    def _location(self, file_system: str, path: str) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"{path!r} climbs out of {file_system}")
        subdirectory = "/" + "/".join(parts)
        found = self._client("efs").describe_file_systems(FileSystemId=file_system)
        fs_arn = found["FileSystems"][0]["FileSystemArn"]
        self._reachable(file_system)
        point = dict(self.settings.access_points).get(file_system, "")
        role = self.settings.file_system_access_role_arn
        asked: dict[str, Any] = {
            "EfsFilesystemArn": fs_arn, "Subdirectory": subdirectory,
            "Ec2Config": {"SubnetArn": self.settings.subnet_arn,
                          "SecurityGroupArns": list(self.settings.security_group_arns)}}
        if point or role:
            asked["InTransitEncryption"] = "TLS1_2"
            asked.update({"AccessPointArn": point} if point else {})
            asked.update({"FileSystemAccessRoleArn": role} if role else {})
        digest = _digest(asked)
        datasync = self._client()
        uri = f"efs://{self.settings.region}.{file_system}{subdirectory.rstrip('/')}/"
        for page in datasync.get_paginator("list_locations").paginate(Filters=[{
                "Name": "LocationUri", "Values": [uri], "Operator": "Equals"}]):
            for location in page["Locations"]:
                if self._made_as(location["LocationArn"], digest):
                    return str(location["LocationArn"])
        arn = str(datasync.create_location_efs(
            **asked, Tags=[{"Key": MADE_TAG, "Value": digest}])["LocationArn"])
        self.log.info("datasync_location_created", location=arn, file_system=file_system)
        return arn

    def _reachable(self, file_system: str) -> None:
        """DataSync mounts through a mount target in its subnet's zone. A file system made
        moments ago (a working copy) has none yet: one is made in DataSync's subnet (which
        should be one of the estate's subnets, where the plan adopts it) and waited for."""
        efs, ec2 = self._client("efs"), self._client("ec2")
        subnet_id = self.settings.subnet_arn.rpartition("/")[2]
        zone = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailabilityZone"]
        deadline = self.clock() + self.settings.follow_seconds
        while True:
            targets = [t for t in efs.describe_mount_targets(FileSystemId=file_system)
                       ["MountTargets"] if t.get("AvailabilityZoneName") == zone]
            if targets and targets[0]["LifeCycleState"] == "available":
                return
            if not targets:
                groups = self.settings.mount_target_groups or tuple(
                    arn.rpartition("/")[2] for arn in self.settings.security_group_arns)
                made = efs.create_mount_target(FileSystemId=file_system, SubnetId=subnet_id,
                                               SecurityGroups=list(groups))
                self.log.info("datasync_mount_target_created", file_system=file_system,
                              mount_target=made["MountTargetId"], subnet=subnet_id)
            elif targets[0]["LifeCycleState"] != "creating" or self.clock() >= deadline:
                raise DataSyncFailed(f"the mount target of {file_system} in {zone} is "
                                     f"{targets[0]['LifeCycleState']}; tried again")
            self.sleep(self.settings.poll_seconds)

    def _made_as(self, arn: str, digest: str) -> bool:
        tags = self._client().list_tags_for_resource(ResourceArn=arn)["Tags"]
        return any(t["Key"] == MADE_TAG and t.get("Value") == digest for t in tags)

    def _task(self, source: str, target: str, job: CopyJob) -> str:
        name = NAME_PREFIX + _digest([source, target, OPTIONS])
        datasync = self._client()
        for page in datasync.get_paginator("list_tasks").paginate(Filters=[{
                "Name": "LocationId", "Values": [source], "Operator": "Equals"}]):
            for task in page["Tasks"]:
                if task.get("Name") == name:
                    return str(task["TaskArn"])
        self._prune()
        try:
            arn = str(datasync.create_task(
                SourceLocationArn=source, DestinationLocationArn=target, Name=name,
                Options=OPTIONS, Tags=[{"Key": MADE_TAG, "Value": job.purpose}])["TaskArn"])
        except ClientError as error:
            if "maximum number of tasks" in str(error).lower():
                raise DataSyncQuotaExhausted(
                    f"the DataSync task quota of {self.settings.region} is full (100 tasks "
                    f"per region; the operator keeps at most {self.settings.tasks_kept}): "
                    "delete tasks that are not needed or ask for a higher quota") from error
            raise
        self.log.info("datasync_task_created", task=arn, purpose=job.purpose)
        return arn

    def _prune(self) -> None:
        """Delete the operator's idle tasks beyond tasks_kept - 1 (room for the new one),
        oldest first, and their locations once no task uses them. A task with a failed
        execution goes last: its retry must overwrite what that execution cut short, and a
        task made again would not know it failed (`_failed_before`)."""
        datasync = self._client()
        mine = [t for page in datasync.get_paginator("list_tasks").paginate()
                for t in page["Tasks"] if str(t.get("Name", "")).startswith(NAME_PREFIX)
                and t.get("Status") == "AVAILABLE"]
        excess = len(mine) + 1 - self.settings.tasks_kept
        if excess <= 0:
            return
        described = sorted((datasync.describe_task(TaskArn=t["TaskArn"]) for t in mine),
                           key=lambda d: (self._failed_before(d["TaskArn"]), d["CreationTime"]))
        for task in described[:excess]:
            datasync.delete_task(TaskArn=task["TaskArn"])
            self.log.info("datasync_task_deleted", task=task["TaskArn"])
            for location in (task["SourceLocationArn"], task["DestinationLocationArn"]):
                with contextlib.suppress(ClientError):  # another task still uses it
                    datasync.delete_location(LocationArn=location)

    # -- executions -------------------------------------------------------------------------
    def _start(self, task: str) -> str:
        datasync = self._client()
        running = datasync.describe_task(TaskArn=task).get("CurrentTaskExecutionArn")
        if running:
            self.log.info("datasync_adopted", task=task, execution=running)
            return str(running)
        overrides = AFTER_FAILURE if self._failed_before(task) else {}
        try:
            execution = str(datasync.start_task_execution(
                TaskArn=task, **({"OverrideOptions": overrides} if overrides else {}))
                ["TaskExecutionArn"])
        except ClientError as error:
            # Another controller (or a retried call whose answer was lost) started one.
            running = datasync.describe_task(TaskArn=task).get("CurrentTaskExecutionArn")
            if not running:
                raise
            self.log.info("datasync_adopted", task=task, execution=running, error=str(error))
            return str(running)
        self.log.info("datasync_started", task=task, execution=execution,
                      overwrite=overrides.get("OverwriteMode", OPTIONS["OverwriteMode"]))
        return execution

    def _failed_before(self, task: str) -> bool:
        """Whether an execution of `task` ended in ERROR: it may have left a file cut short
        that NEVER would keep (the task's purpose is in FRESH_TARGETS: see the docstring)."""
        pages = self._client().get_paginator("list_task_executions").paginate(TaskArn=task)
        return any(e.get("Status") == "ERROR" for page in pages for e in page["TaskExecutions"])

    def _follow(self, execution: str, progress: ProgressSink | None,
                began: float) -> dict[str, Any]:
        deadline = self.clock() + self.settings.follow_seconds
        datasync = self._client()
        while True:
            answer: dict[str, Any] = datasync.describe_task_execution(
                TaskExecutionArn=execution)
            if progress is not None:
                progress(Tick(int(answer.get("FilesTransferred", 0)),
                              int(answer.get("BytesWritten", 0)), self.clock() - began))
            if answer["Status"] in ("SUCCESS", "ERROR"):
                return answer
            if self.clock() >= deadline:
                raise DataSyncStillRunning(f"DataSync execution {execution} still "
                                           f"{answer['Status']}; followed again next time")
            self.sleep(self.settings.poll_seconds)
