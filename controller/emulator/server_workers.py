"""The emulator's controls of what runs outside requests: ECS worker tasks (local
`studioctl worker` processes) and DataSync executions. Part of `Emulator` (server.py);
this module must not implement AWS behaviour (ecs_tasks, ecs_workers and datasync do).
"""

from __future__ import annotations

from typing import Any

from controller.emulator.datasync import DataSync
from controller.emulator.ecs_tasks import EcsTasks
from controller.emulator.ecs_workers import WorkerLauncher


class WorkerControls:
    _ecs: EcsTasks
    _workers: WorkerLauncher
    _datasync: DataSync

    def worker_tasks(self) -> list[dict[str, Any]]:
        """Every task RunTask started since the last reset, as DescribeTasks shows it, with
        the local process id (`pid`) while it runs."""
        with self._ecs.state.lock:
            return [{**task.describe(), "pid": task.pid} for task in self._ecs.tasks_unlocked()]

    def kill_worker_task(self, task_arn: str) -> bool:
        """Kill the task's process (SIGKILL) as if its container died; False if not running."""
        return any(self._workers.kill(task) for task in self._ecs.tasks()
                   if task.arn == task_arn)

    def datasync_executions(self) -> list[dict[str, Any]]:
        """Every DataSync task execution since the last reset (DescribeTaskExecution's view)."""
        return self._datasync.executions()

    def set_datasync_bandwidth(self, bytes_per_second: float) -> None:
        """Pace DataSync's writes (0: unlimited; reset sets 0), to stop one mid-file."""
        self._datasync.runner.bytes_per_second = float(bytes_per_second)

    def forget_stopped_worker_tasks(self) -> int:
        """Forget the stopped tasks (ListTasks and DescribeTasks no longer show them, their
        client tokens start new tasks), as ECS does an hour or so after a task stops."""
        return self._ecs.forget_stopped()
