"""The worker-task engine: run a job as an ECS Fargate task of the controller's image
(`studioctl worker`) in the file systems' region, where a task definition mounts them.

A task definition is registered per set of file systems (RunTask cannot override
volumes), mounting each through an access point the operator makes for the worker, with
transit encryption and IAM authorization; the source read-only (a fenced old copy lets
no writer in). A job is named by a digest of its spec: RunTask's startedBy carries it, so
a controller that restarts finds a worker still running (ListTasks by startedBy) and
follows it instead of starting a second one. The report comes back through S3. This
module must not move data itself or decide what to move.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.movers import carrier
from controller.movers.jobs import Job, MoverReport, job_to_json
from controller.movers.local import ProgressSink

CONTAINER = "worker"
MOUNT_ROOT = "/mnt/efs"
JOB_TAG, PURPOSE_TAG = "studio-operator/job", "studio-operator/purpose"


@dataclass(frozen=True)
class WorkerSettings:
    """Where workers run in one region (infra/cloudformation makes these)."""

    region: str
    cluster: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    bucket: str
    task_role_arn: str
    execution_role_arn: str
    image: str
    family: str = "studio-operator-worker"
    prefix: str = "movers/"
    poll_seconds: float = 5.0
    # A pass follows a worker this long, then lets go (the next pass adopts it).
    follow_seconds: float = 3600.0
    # Access points the stack made for workers, by file system; others are made here.
    access_points: tuple[tuple[str, str], ...] = ()
    # Task definitions (one family per set of file systems) kept registered: registering
    # a new one deregisters the least recently registered beyond this count.
    definitions_kept: int = 20

    @classmethod
    def from_json(cls, region: str, text: str) -> WorkerSettings:
        """From `studioctl run --worker-config`: {"cluster", "subnets", "securityGroups",
        "bucket", "taskRoleArn", "executionRoleArn", "image", optional "family",
        "prefix", "accessPoints": {fs id: access point id}}. Raises ValueError."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the worker configuration is a JSON object")
        try:
            return cls(region=region, cluster=str(data["cluster"]),
                       subnets=tuple(map(str, data["subnets"])),
                       security_groups=tuple(map(str, data["securityGroups"])),
                       bucket=str(data["bucket"]), task_role_arn=str(data["taskRoleArn"]),
                       execution_role_arn=str(data["executionRoleArn"]),
                       image=str(data["image"]),
                       family=str(data.get("family", cls.family)),
                       prefix=str(data.get("prefix", cls.prefix)),
                       access_points=tuple(sorted(
                           (str(k), str(v)) for k, v in data.get("accessPoints", {}).items())))
        except KeyError as missing:
            raise ValueError(f"the worker configuration lacks {missing}") from missing


def regional_settings(region: str, text: str) -> list[WorkerSettings]:
    """This region's settings, then those of each region under "regions" (the same keys):
    where the other copy's workers run for a save across regions. Raises ValueError."""
    data = json.loads(text)
    others = data.pop("regions", {}) if isinstance(data, dict) else {}
    if not isinstance(others, dict):
        raise ValueError('"regions" is an object: {region: worker settings}')
    found = [WorkerSettings.from_json(region, json.dumps(data))]
    found += [WorkerSettings.from_json(str(name), json.dumps(value))
              for name, value in sorted(others.items()) if name != region]
    return found


class WorkerFailed(RuntimeError):
    """The worker task stopped without finishing the job (retried: a new task is started)."""


class WorkerStillRunning(RuntimeError):
    """Followed for follow_seconds and still running: the next attempt adopts it."""


def job_id(job: Job) -> str:
    return "so-" + hashlib.sha256(job_to_json(job).encode()).hexdigest()[:32]


class WorkerTaskMover:
    name = "worker"

    def __init__(self, gateway: AwsGateway, settings: WorkerSettings,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.gateway = gateway
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.log = get_logger(region=settings.region)

    def _client(self, service: str) -> Any:
        return self.gateway.client(service, self.settings.region)

    def run(self, job: Job, progress: ProgressSink | None = None,
            cancelled: Callable[[], bool] | None = None, ended: bool = False,
            finished: Callable[[], MoverReport | None] | None = None) -> MoverReport:
        """`cancelled()` True (the controller stops or loses its lease): let go of the
        worker with WorkerStillRunning; it runs on, and the next attempt adopts it.
        `ended`: this job was started before (its caller recorded it) and its outcome
        was never read: a task of it that stopped since is that outcome (its report is
        read) instead of a reason to start it again. Only for jobs named once (a
        snapshot's id, a recorded restore): an identical copy asked for again later
        must run again, not answer an old report. `finished()`, asked only then and only
        when no task of the job runs, answers the outcome the job left in place (a
        snapshot's manifest) if it ended: ECS forgets a stopped task after an hour or so,
        and a controller killed after reading a report leaves none to read again."""
        name = job_id(job)
        spec = f"s3://{self.settings.bucket}/{self.settings.prefix}jobs/{name}.json"
        adopted = self._running(name) or (self._stopped(name) if ended else None)
        ran = adopted is None or adopted.get("lastStatus") == "STOPPED"
        outcome = finished() if ended and finished and ran else None
        if outcome is not None:  # its report may be gone: read by a controller since killed
            self.log.info("worker_outcome_found", job=name)
            self._forget(spec, _report_of(adopted) if adopted else None)
            return outcome
        if adopted is not None:
            task = adopted
            self.log.info("worker_adopted", job=name, task=task["taskArn"],
                          status=task.get("lastStatus"))
        else:
            carrier.write(self.gateway, self.settings.region, spec, job_to_json(job).encode())
            task = self._start(job, name, spec)
            self.log.info("worker_started", job=name, task=task["taskArn"], kind=job.kind)
        stopped = (task if task.get("lastStatus") == "STOPPED"
                   else self._follow(task["taskArn"], cancelled))  # WorkerStillRunning
        try:
            report = self._result(stopped)
        except WorkerFailed:
            self._forget(spec, _report_of(stopped))  # the job starts again, a new spec
            raise
        # Any other error (the report could not be read now) keeps both: the next
        # attempt reads them. The outcome is in hand: neither is needed in S3 any more.
        self._forget(spec, _report_of(stopped))
        return report

    def _forget(self, *objects: str | None) -> None:
        s3 = self._client("s3")
        for where in objects:
            place = carrier.parse(where) if where else None
            if isinstance(place, carrier.S3Location):
                try:
                    s3.delete_object(Bucket=place.bucket, Key=place.key)
                except Exception as error:  # the bucket's lifecycle rule is the floor
                    self.log.warning("worker_object_not_deleted", where=str(place),
                                     error=str(error))

    # -- finding, starting, following -----------------------------------------------------
    def _running(self, name: str) -> dict[str, Any] | None:
        """The oldest task of job `name` that is to run (one started twice: the first)."""
        tasks = self._tasks(name, "RUNNING")
        return tasks[0] if tasks else None

    def _stopped(self, name: str) -> dict[str, Any] | None:
        """The newest task of job `name` that stopped (ECS lists them for a while)."""
        tasks = [t for t in self._tasks(name, "STOPPED") if t.get("lastStatus") == "STOPPED"]
        return tasks[-1] if tasks else None

    def _tasks(self, name: str, desired: str) -> list[dict[str, Any]]:
        """The tasks of job `name` with that desired status, oldest first."""
        ecs = self._client("ecs")
        arns = ecs.list_tasks(cluster=self.settings.cluster, startedBy=name,
                              desiredStatus=desired)["taskArns"]
        if not arns:
            return []
        tasks = ecs.describe_tasks(cluster=self.settings.cluster, tasks=arns)["tasks"]
        return sorted((dict(t) for t in tasks), key=lambda t: t.get("createdAt", 0))

    def _start(self, job: Job, name: str, spec: str) -> dict[str, Any]:
        definition = self._task_definition(job)
        report = f"s3://{self.settings.bucket}/{self.settings.prefix}reports/{name}/" \
                 f"{uuid.uuid4().hex}.json"
        command = ["worker", "--job", spec, "--report", report, "--efs-root", MOUNT_ROOT]
        answer = self._client("ecs").run_task(
            cluster=self.settings.cluster, taskDefinition=definition, launchType="FARGATE",
            count=1, startedBy=name,
            # The same token on botocore's retries: a RunTask that reached ECS but whose
            # answer was lost does not start a second worker.
            clientToken=uuid.uuid4().hex,
            tags=[{"key": JOB_TAG, "value": name}, {"key": PURPOSE_TAG, "value": job.purpose}],
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": list(self.settings.subnets),
                "securityGroups": list(self.settings.security_groups),
                "assignPublicIp": "DISABLED"}},
            overrides={"containerOverrides": [{"name": CONTAINER, "command": command}]})
        if answer.get("failures") or not answer.get("tasks"):
            raise WorkerFailed(f"RunTask started no worker: {answer.get('failures')}")
        return dict(answer["tasks"][0])

    def _follow(self, task_arn: str,
                cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
        deadline = self.clock() + self.settings.follow_seconds
        ecs = self._client("ecs")
        while True:
            found = ecs.describe_tasks(cluster=self.settings.cluster, tasks=[task_arn])["tasks"]
            if not found:
                raise WorkerFailed(f"worker task {task_arn} is gone (not described)")
            if found[0]["lastStatus"] == "STOPPED":
                return dict(found[0])
            if self.clock() >= deadline or (cancelled is not None and cancelled()):
                raise WorkerStillRunning(f"worker task {task_arn} still running; followed "
                                         "again on the next attempt")
            self.sleep(self.settings.poll_seconds)

    def _result(self, task: dict[str, Any]) -> MoverReport:
        codes = [c.get("exitCode") for c in task.get("containers", [])]
        code = codes[0] if codes else None
        report_uri = _report_of(task)
        why = task.get("stoppedReason", "")
        if code is None:
            raise WorkerFailed(f"worker task {task['taskArn']} did not run: {why}")
        if report_uri and carrier.exists(self.gateway, self.settings.region, report_uri):
            report = MoverReport.from_json(carrier.read(self.gateway, self.settings.region,
                                                        report_uri))
            if code == 0 or report.errors:
                return report  # entry errors are the executor's to judge and say
        raise WorkerFailed(f"worker task {task['taskArn']} stopped with exit code {code} "
                           f"({why}) without a report; the job is started again")

    # -- task definitions per set of file systems -----------------------------------------
    def _task_definition(self, job: Job) -> str:
        read_only = set(job.read_only)
        points = {fs: self._access_point(fs) for fs in sorted(job.file_systems)}
        body = {
            "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "1024", "memory": "4096",
            "taskRoleArn": self.settings.task_role_arn,
            "executionRoleArn": self.settings.execution_role_arn,
            "volumes": [{"name": fs, "efsVolumeConfiguration": {
                "fileSystemId": fs, "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": point, "iam": "ENABLED"}}}
                for fs, point in points.items()],
            "containerDefinitions": [{
                "name": CONTAINER, "image": self.settings.image, "essential": True,
                "command": ["worker", "--help"],
                "mountPoints": [{"sourceVolume": fs, "containerPath": f"{MOUNT_ROOT}/{fs}",
                                 "readOnly": fs in read_only} for fs in points]}],
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        family = f"{self.settings.family}-{digest}"
        ecs = self._client("ecs")
        try:
            return str(ecs.describe_task_definition(taskDefinition=family)
                       ["taskDefinition"]["taskDefinitionArn"])
        except ecs.exceptions.ClientException:
            pass  # not registered yet: the family name is the digest of what it holds
        arn = str(ecs.register_task_definition(family=family, **body)
                  ["taskDefinition"]["taskDefinitionArn"])
        try:
            self._prune_definitions(family)
        except Exception as error:  # housekeeping: the job runs all the same
            self.log.warning("worker_task_definitions_not_pruned", error=str(error))
        return arn

    def _prune_definitions(self, current: str) -> None:
        """Deregister the operator's oldest worker task definitions beyond
        definitions_kept (a set of file systems no longer moved between needs none; one
        needed again is registered again). Running tasks are not affected."""
        ecs = self._client("ecs")
        families: list[str] = []
        for page in ecs.get_paginator("list_task_definition_families").paginate(
                familyPrefix=f"{self.settings.family}-", status="ACTIVE"):
            families += [f for f in page["families"] if f != current]
        excess = len(families) + 1 - self.settings.definitions_kept
        if excess <= 0:
            return
        known = []
        for family in families:
            definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
            known.append((definition.get("registeredAt", 0), definition["taskDefinitionArn"]))
        for _, arn in sorted(known)[:excess]:
            ecs.deregister_task_definition(taskDefinition=arn)
            self.log.info("worker_task_definition_deregistered", task_definition=arn)

    def _access_point(self, file_system: str) -> str:
        given = dict(self.settings.access_points).get(file_system)
        if given:
            return given
        efs = self._client("efs")
        # Idempotent on the token: one access point per file system for every worker.
        point = efs.create_access_point(
            ClientToken=f"studio-operator-worker-{file_system}", FileSystemId=file_system,
            RootDirectory={"Path": "/"},
            Tags=[{"Key": "Name", "Value": f"studio-operator-worker-{file_system}"}])
        return str(point["AccessPointId"])


def _report_of(task: dict[str, Any]) -> str | None:
    for override in task.get("overrides", {}).get("containerOverrides", []):
        command = override.get("command") or []
        if "--report" in command[:-1]:
            return str(command[command.index("--report") + 1])
    return None
