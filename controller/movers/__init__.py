"""Data movers: one interface for "copy tree A to tree B" and "save what differs in old
copy A into recovery folder R of B", run by the engine that can reach both trees.

Nothing outside this package calls the copy engine or the save walk to move a file
system's data (the `studioctl copy` command is the engine's own front end). This package
must not decide what to move: the plan and the executors do.
"""

from controller.movers.choose import Mover, MoverUnavailable, choose_engine, run_job
from controller.movers.jobs import (
    CopyJob,
    Job,
    MoverReport,
    SavedPath,
    SaveJob,
    job_from_json,
    job_to_json,
)
from controller.movers.local import JobRefused, Mounts, ProgressSink, Tick, run_locally, under

__all__ = ["CopyJob", "Job", "JobRefused", "Mounts", "Mover", "MoverReport", "MoverUnavailable",
           "ProgressSink", "SaveJob", "SavedPath", "Tick", "choose_engine", "job_from_json",
           "job_to_json", "run_job", "run_locally", "under"]
