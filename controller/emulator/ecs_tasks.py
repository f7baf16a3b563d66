"""ECS task definitions and tasks for data-mover workers, answered by the emulator.

moto's ECS keeps clusters (CreateCluster/DescribeClusters stay moto's) but runs nothing:
its RunTask needs EC2 container instances and never ends a task. Here a task definition
is kept as registered (revisions per family), and RunTask starts the task definition's
container as a process of this machine (ecs_workers.py): PROVISIONING, then RUNNING once
its EFS volumes mounted (as EFS judges the mount: the task's subnets and security
groups, the file system policy, the task role for IAM authorization), then STOPPED with
the container's exit code. As on ECS, a volume whose file system is not in the task's
region (or is unknown) fails the task at start: STOPPED, stopCode TaskFailedToStart,
ResourceInitializationError. This module must not run processes itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.emulator.lifecycle import EmulatorConfig, epoch
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply, json_reply

OPERATIONS = {"RegisterTaskDefinition", "DescribeTaskDefinition", "DeregisterTaskDefinition",
              "ListTaskDefinitionFamilies", "RunTask", "DescribeTasks", "ListTasks",
              "StopTask"}


@dataclass
class Task:
    arn: str
    account: str
    region: str
    cluster_arn: str
    definition: dict[str, Any]
    started_by: str
    tags: list[dict[str, str]]
    overrides: dict[str, Any]
    network: dict[str, Any]
    created_at: float
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    pid: int | None = None

    def describe(self) -> dict[str, Any]:
        container = self.definition["containerDefinitions"][0]
        answer: dict[str, Any] = {
            "taskArn": self.arn, "clusterArn": self.cluster_arn,
            "taskDefinitionArn": self.definition["taskDefinitionArn"],
            "lastStatus": self.last_status, "desiredStatus": self.desired_status,
            "launchType": "FARGATE", "startedBy": self.started_by, "tags": self.tags,
            "group": f"family:{self.definition['family']}", "overrides": self.overrides,
            "createdAt": epoch(self.created_at),
            "containers": [{"name": container["name"], "lastStatus": self.last_status,
                            "taskArn": self.arn,
                            **({"exitCode": self.exit_code}
                               if self.exit_code is not None else {})}],
        }
        for key, value in (("startedAt", self.started_at), ("stoppedAt", self.stopped_at)):
            if value is not None:
                answer[key] = epoch(value)
        if self.stop_code:
            answer["stopCode"] = self.stop_code
        if self.stopped_reason:
            answer["stoppedReason"] = self.stopped_reason
        return answer


@dataclass
class EcsState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (account, region, family) -> revisions, the first at index 0
    definitions: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    tokens: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> task arn


class EcsTasks:
    """The extension. `launch(task)` is called (outside the lock) for every new task."""

    def __init__(self, config: EmulatorConfig, gateway: MotoGateway,
                 launch: Callable[[Task], None]):
        self.config = config
        self.gateway = gateway
        self.launch = launch
        self.state = EcsState()

    def handle(self, request: AwsRequest) -> Reply | None:
        if request.service != "ecs" or request.operation not in OPERATIONS:
            return None
        account = self.gateway.account_of(request.access_key,
                                          request.headers.get("x-moto-account-id"))
        body = request.json()
        handler = getattr(self, "_" + request.operation)
        answer, started = handler(account, request.region, body)
        if started is not None:
            self.launch(started)
        return json_reply(answer)

    def reset(self) -> list[Task]:
        with self.state.lock:  # the same lock stays: the launcher's threads hold it
            tasks = list(self.state.tasks.values())
            self.state.tasks.clear()
            self.state.definitions.clear()
            self.state.tokens.clear()
        return tasks

    def forget_stopped(self) -> int:
        """Drop the tasks that have stopped, and their client tokens, as ECS does some time
        after a task stops (a stopped task is shown for at least an hour, not forever)."""
        with self.state.lock:
            gone = {arn for arn, task in self.state.tasks.items()
                    if task.last_status == "STOPPED"}
            for arn in gone:
                del self.state.tasks[arn]
            for key in [k for k, arn in self.state.tokens.items() if arn in gone]:
                del self.state.tokens[key]
        return len(gone)

    def tasks(self) -> list[Task]:
        with self.state.lock:
            return self.tasks_unlocked()

    def tasks_unlocked(self) -> list[Task]:
        return list(self.state.tasks.values())

    # -- task definitions ------------------------------------------------------------------
    def _RegisterTaskDefinition(self, account: str, region: str,
                                body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        family = body["family"]
        volumes = body.get("volumes", [])
        for volume in volumes:
            _check_efs_volume(volume)
        with self.state.lock:
            revisions = self.state.definitions.setdefault((account, region, family), [])
            revision = len(revisions) + 1
            definition = {
                **body, "revision": revision, "status": "ACTIVE", "volumes": volumes,
                "taskDefinitionArn":
                    f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}",
                "registeredAt": epoch(self.config.clock()),
            }
            definition.pop("tags", None)
            revisions.append(definition)
        return {"taskDefinition": definition, "tags": body.get("tags", [])}, None

    def _DescribeTaskDefinition(self, account: str, region: str,
                                body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        return {"taskDefinition": self._definition(account, region,
                                                   body["taskDefinition"])}, None

    def _definition(self, account: str, region: str, name: str) -> dict[str, Any]:
        family, _, revision = name.rpartition("task-definition/")[2].partition(":")
        with self.state.lock:
            revisions = self.state.definitions.get((account, region, family), [])
            active = [d for d in revisions if d["status"] == "ACTIVE"]
            if active and not revision:  # a family alone: its latest ACTIVE revision
                return active[-1]
            if revision.isdigit() and 0 < int(revision) <= len(revisions):
                return revisions[int(revision) - 1]
        raise AwsError("ClientException", "Unable to describe task definition.")

    def _DeregisterTaskDefinition(self, account: str, region: str,
                                  body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        name = body["taskDefinition"]
        if ":" not in name.rpartition("task-definition/")[2]:
            raise AwsError("ClientException", "The specified task definition identifier is "
                           "invalid. Specify a valid revision number.")
        definition = self._definition(account, region, name)
        with self.state.lock:
            # INACTIVE: still described, never run again (ECS keeps it a while, then
            # deletes it); deregistering twice is not an error.
            if definition["status"] == "ACTIVE":
                definition["status"] = "INACTIVE"
                definition["deregisteredAt"] = epoch(self.config.clock())
        return {"taskDefinition": definition}, None

    def _ListTaskDefinitionFamilies(self, account: str, region: str,
                                    body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        # By default both ACTIVE and INACTIVE families (the botocore model says so).
        prefix, status = body.get("familyPrefix", ""), body.get("status", "ALL")
        if status not in ("ACTIVE", "INACTIVE", "ALL"):
            raise AwsError("InvalidParameterException", f"Invalid status: {status}")
        with self.state.lock:
            families = sorted(
                family for (acc, reg, family), revisions in self.state.definitions.items()
                if acc == account and reg == region and family.startswith(prefix)
                and (status == "ALL" or any(d["status"] == status for d in revisions)
                     if status != "INACTIVE" else
                     all(d["status"] == "INACTIVE" for d in revisions)))
        # Paged as ECS pages (maxResults, 100 by default; an opaque nextToken).
        limit = int(body.get("maxResults", 100))
        start = int(body.get("nextToken") or 0)
        page = families[start:start + limit]
        answer: dict[str, Any] = {"families": page}
        if start + limit < len(families):
            answer["nextToken"] = str(start + limit)
        return answer, None

    # -- tasks -----------------------------------------------------------------------------
    def _RunTask(self, account: str, region: str,
                 body: dict[str, Any]) -> tuple[dict[str, Any], Task | None]:
        cluster_arn = self._cluster(account, region, body.get("cluster", "default"))
        definition = self._definition(account, region, body["taskDefinition"])
        if definition["status"] != "ACTIVE":
            raise AwsError("ClientException", "TaskDefinition is inactive")
        if body.get("launchType", "FARGATE") != "FARGATE":
            raise AwsError("InvalidParameterException", "only FARGATE tasks are emulated")
        network = body.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        if not network.get("subnets"):
            raise AwsError("InvalidParameterException",
                           "Network Configuration must be provided when networkMode 'awsvpc' "
                           "is specified.")
        if int(body.get("count", 1)) != 1:
            raise AwsError("InvalidParameterException", "the emulator runs one task per call")
        token = body.get("clientToken")
        with self.state.lock:
            again = self.state.tokens.get((account, region, token)) if token else None
            if again is not None:  # RunTask is idempotent on its clientToken
                return {"tasks": [self.state.tasks[again].describe()], "failures": []}, None
        cluster_name = cluster_arn.rpartition("/")[2]
        task = Task(
            arn=f"arn:aws:ecs:{region}:{account}:task/{cluster_name}/{uuid.uuid4().hex}",
            account=account, region=region, cluster_arn=cluster_arn, definition=definition,
            started_by=str(body.get("startedBy", "")), tags=list(body.get("tags", [])),
            overrides=dict(body.get("overrides", {})), network=network,
            created_at=self.config.clock())
        with self.state.lock:
            self.state.tasks[task.arn] = task
            if token:
                self.state.tokens[(account, region, token)] = task.arn
        return {"tasks": [task.describe()], "failures": []}, task

    def _DescribeTasks(self, account: str, region: str,
                       body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        cluster_arn = self._cluster(account, region, body.get("cluster", "default"))
        found, failures = [], []
        with self.state.lock:
            for name in body["tasks"]:
                task = self._task(cluster_arn, name)
                if task is None:
                    failures.append({"arn": name, "reason": "MISSING"})
                else:
                    found.append(task.describe())
        return {"tasks": found, "failures": failures}, None

    def _ListTasks(self, account: str, region: str,
                   body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        cluster_arn = self._cluster(account, region, body.get("cluster", "default"))
        wanted = body.get("desiredStatus", "RUNNING")
        with self.state.lock:
            arns = [t.arn for t in self.state.tasks.values()
                    if t.cluster_arn == cluster_arn and t.desired_status == wanted
                    and (not body.get("startedBy") or t.started_by == body["startedBy"])
                    and (not body.get("family") or t.definition["family"] == body["family"])]
        return {"taskArns": arns}, None

    def _StopTask(self, account: str, region: str,
                  body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        cluster_arn = self._cluster(account, region, body.get("cluster", "default"))
        with self.state.lock:
            task = self._task(cluster_arn, body["task"])
            if task is None:
                raise AwsError("InvalidParameterException", "The referenced task was not found.")
            if task.desired_status != "STOPPED":
                task.desired_status = "STOPPED"
                task.stop_code = "UserInitiated"
                task.stopped_reason = body.get("reason", "Task stopped by user")
            answer = task.describe()
        return {"task": answer}, None

    def _task(self, cluster_arn: str, name: str) -> Task | None:
        task = self.state.tasks.get(name) or next(
            (t for t in self.state.tasks.values() if t.arn.endswith("/" + name)), None)
        return task if task is not None and task.cluster_arn == cluster_arn else None

    def _cluster(self, account: str, region: str, name: str) -> str:
        ecs = self.gateway.client("ecs", region, account)
        answer = ecs.describe_clusters(clusters=[name])
        active = [c for c in answer.get("clusters", []) if c.get("status") == "ACTIVE"]
        if not active:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        return str(active[0]["clusterArn"])


def _check_efs_volume(volume: dict[str, Any]) -> None:
    """What ECS refuses at registration (it checks file systems only when a task starts)."""
    efs = volume.get("efsVolumeConfiguration")
    if efs is None:
        return
    auth = efs.get("authorizationConfig", {})
    encrypted = efs.get("transitEncryption", "DISABLED") == "ENABLED"
    if (auth.get("iam") == "ENABLED" or auth.get("accessPointId")) and not encrypted:
        raise AwsError("ClientException", "Transit encryption must be enabled when IAM "
                       "authorization or an access point is used.")
    if auth.get("accessPointId") and efs.get("rootDirectory", "/") not in ("", "/"):
        raise AwsError("ClientException", "The root directory must be omitted or '/' "
                       "when an access point is used.")
