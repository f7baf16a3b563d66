"""Choose the engine for a job and run it: DataSync when it is configured and takes the
job (controller.movers.datasync: a bulk copy of a purpose its configuration lists, even
when both file systems are mounted here), else local when both file systems are mounted
where the controller runs, else a worker task in their region (when one is configured).

This module must not hold engine details: engines implement `Mover`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from controller.movers.jobs import Job, MoverReport
from controller.movers.local import ProgressSink, mounted, run_locally, under


class Mover(Protocol):
    """An engine that runs a job somewhere else and answers its report."""

    name: str

    def run(self, job: Job, progress: ProgressSink | None = None) -> MoverReport: ...


class Taker(Mover, Protocol):
    """An engine used for the jobs it takes, before any other (DataSync)."""

    def takes(self, job: Job) -> bool: ...


class MoverUnavailable(Exception):
    """No engine can run the job from here. `waiting`: a file system is not mounted yet
    (it may be soon); otherwise nothing here can ever run it."""

    def __init__(self, message: str, waiting: bool):
        super().__init__(message)
        self.waiting = waiting


def choose_engine(job: Job, efs_root: Path | None, worker: Mover | None,
                  datasync: Taker | None = None) -> str:
    if datasync is not None and datasync.takes(job):
        return datasync.name
    if mounted(efs_root, job):
        return "local"
    if worker is not None:
        return worker.name
    if efs_root is None:
        raise MoverUnavailable("no --efs-root and no worker task configured: "
                               f"{' and '.join(job.file_systems)} cannot be reached",
                               waiting=False)
    missing = [fs for fs in job.file_systems if not (efs_root / fs).is_dir()]
    raise MoverUnavailable(f"{', '.join(missing)} not mounted at {efs_root} yet "
                           "(and no worker task configured)", waiting=True)


def run_job(job: Job, efs_root: Path | None, worker: Mover | None = None,
            progress: ProgressSink | None = None,
            datasync: Taker | None = None) -> MoverReport:
    """Run `job` with the engine `choose_engine` picks. Raises MoverUnavailable, and
    controller.movers.local.JobRefused when the job can never succeed as asked."""
    engine = choose_engine(job, efs_root, worker, datasync)
    if datasync is not None and engine == datasync.name:
        return datasync.run(job, progress)
    if engine == "local":
        assert efs_root is not None  # mounted() said so
        return run_locally(job, under(efs_root, job), progress)
    assert worker is not None
    return worker.run(job, progress)
