"""Run an emulated ECS task's container as a local `studioctl` process.

The image is the controller's own, so its container is `studioctl` with the task
definition's command (or RunTask's override): it runs here as `python -m
controller.cli.main ...` with AWS_REGION, the emulator's endpoint and dummy credentials.
Each EFS volume is mounted as EFS would judge the mount (efs_mounts: the task's subnets
and security groups, the policy, the task role when IAM authorization is on, read-only
when the mount point is) and handed to the process through the mount table variable
that stands in for the container's own mounts (controller.cli.worker_cmd). A process
that exits stops its task with its exit code; StopTask terminates it. This module must
not answer API calls (ecs_tasks does).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import controller
from controller.emulator.ecs_tasks import Task
from controller.emulator.efs_mounts import MountRefused, MountTable
from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.moto_gateway import MotoGateway

MOUNT_TABLE_ENV = "STUDIOCTL_CONTAINER_MOUNTS"  # read by controller.cli.worker_cmd
STOP_GRACE_SECONDS = 2.0  # SIGTERM, then SIGKILL (ECS waits stopTimeout, 30 s by default)


@dataclass
class WorkerLauncher:
    config: EmulatorConfig
    gateway: MotoGateway
    folders: EfsFolders
    mounts: MountTable
    logs: Path
    endpoint_url: str
    lock: threading.Lock  # the ECS state's: task fields change under it
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def launch(self, task: Task) -> None:
        threading.Thread(target=self._run, args=(task,), daemon=True,
                         name=f"ecs-{task.arn[-8:]}").start()

    def kill(self, task: Task, sig: int = signal.SIGKILL) -> bool:
        process = self.processes.get(task.arn)
        if process is None or process.poll() is not None:
            return False
        process.send_signal(sig)
        return True

    def stop_all(self, tasks: list[Task]) -> None:
        for task in tasks:
            with self.lock:
                task.desired_status = "STOPPED"
            self.kill(task)

    def _run(self, task: Task) -> None:
        time.sleep(self.config.transition_seconds)  # Fargate provisions for a while
        with self.lock:
            cancelled = task.desired_status == "STOPPED"
        if cancelled:  # stopped while provisioning: the container never ran
            self._stopped(task, None, task.stop_code or "UserInitiated", task.stopped_reason)
            return
        try:
            table = self._mount_volumes(task)
        except MountRefused as refusal:
            self.mounts.unmount(_client_id(task))
            self._stopped(task, None, "TaskFailedToStart",
                          "ResourceInitializationError: failed to invoke EFS utils commands "
                          f"to set up EFS volumes: {refusal}")
            return
        process = self._start(task, table)
        with self.lock:
            task.last_status, task.started_at, task.pid = "RUNNING", self.config.clock(), \
                process.pid
        code = self._wait(task, process)
        self.mounts.unmount(_client_id(task))
        self._stopped(task, code, task.stop_code or "EssentialContainerExited",
                      task.stopped_reason or "Essential container in task exited")

    def _mount_volumes(self, task: Task) -> dict[str, str]:
        definition = task.definition
        volumes = {v["name"]: v for v in definition.get("volumes", [])}
        container = definition["containerDefinitions"][0]
        table: dict[str, str] = {}
        for point in container.get("mountPoints", []):
            efs = volumes.get(point["sourceVolume"], {}).get("efsVolumeConfiguration")
            if efs is None:
                continue
            fs_id = efs["fileSystemId"]
            folder = self._folder(task, fs_id, efs)
            auth = efs.get("authorizationConfig", {})
            principal = definition.get("taskRoleArn") if auth.get("iam") == "ENABLED" else None
            self.mounts.mount(task.region, fs_id, client_id=_client_id(task),
                              principal=principal, read_only=bool(point.get("readOnly")),
                              account=task.account, subnet_ids=task.network.get("subnets", ()),
                              security_groups=task.network.get("securityGroups", ()))
            table[point["containerPath"]] = str(folder)
        return table

    def _folder(self, task: Task, fs_id: str, efs: dict[str, Any]) -> Path:
        client = self.gateway.client("efs", task.region, task.account)
        try:
            client.describe_file_systems(FileSystemId=fs_id)
        except client.exceptions.FileSystemNotFound as error:
            # A task resolves the file system's DNS name in its own region and VPC.
            raise MountRefused(f"Failed to resolve \"{fs_id}.efs.{task.region}."
                               "amazonaws.com\": no such file system in the task's region"
                               ) from error
        root = efs.get("rootDirectory", "/")
        point_id = efs.get("authorizationConfig", {}).get("accessPointId")
        if point_id:
            points = client.describe_access_points(AccessPointId=point_id)["AccessPoints"]
            if not points or points[0]["FileSystemId"] != fs_id:
                raise MountRefused(f"access point {point_id} is not {fs_id}'s")
            root = points[0].get("RootDirectory", {}).get("Path", "/")
        parts = [p for p in root.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise MountRefused(f"root directory {root!r} climbs out of {fs_id}")
        folder = self.folders.path(fs_id).joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _start(self, task: Task, table: dict[str, str]) -> subprocess.Popen[bytes]:
        container = task.definition["containerDefinitions"][0]
        command = list(container.get("command", []))
        for override in task.overrides.get("containerOverrides", []):
            if override.get("name") == container["name"] and override.get("command"):
                command = list(override["command"])
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("AWS_", "PYTEST", MOUNT_TABLE_ENV))}
        env.update({item["name"]: item["value"] for item in container.get("environment", [])})
        env.update({
            "AWS_REGION": task.region, "AWS_DEFAULT_REGION": task.region,
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", MOUNT_TABLE_ENV: json.dumps(table),
            "PYTHONPATH": str(Path(controller.__file__).resolve().parents[1]),
        })
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{task.arn.rpartition('/')[2]}.log", "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "controller.cli.main", *command],
                                       env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[task.arn] = process
        return process

    def _wait(self, task: Task, process: subprocess.Popen[bytes]) -> int:
        terminated_at: float | None = None
        while True:
            try:
                code = process.wait(timeout=0.05)
                return code if code >= 0 else 128 - code  # killed by a signal: 128 + signo
            except subprocess.TimeoutExpired:
                pass
            with self.lock:
                stopping = task.desired_status == "STOPPED"
            if stopping and terminated_at is None:
                terminated_at = time.monotonic()
                process.terminate()
            elif terminated_at is not None and time.monotonic() - terminated_at > \
                    STOP_GRACE_SECONDS:
                process.kill()

    def _stopped(self, task: Task, code: int | None, stop_code: str,
                 reason: str | None) -> None:
        with self.lock:
            task.exit_code, task.stop_code, task.stopped_reason = code, stop_code, reason
            task.last_status = task.desired_status = "STOPPED"
            task.stopped_at = self.config.clock()
        self.processes.pop(task.arn, None)


def _client_id(task: Task) -> str:
    return "ecs-task-" + task.arn.rpartition("/")[2]
