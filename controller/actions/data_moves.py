"""Run a data mover's job for an executor, with the executor's error taxonomy.

A job that can never run as asked (a root that is a link, no mount and no worker) is a
TerminalError; a file system not mounted yet is RequeueAfter; anything else is retried.
This module must not decide what to move or read a report's content.
"""

from __future__ import annotations

from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter, TerminalError
from controller.movers import (
    Job,
    JobRefused,
    MoverReport,
    MoverUnavailable,
    ProgressSink,
    run_job,
)

REFUSED_CODES = {"copy": "CopyRefused", "save": "SaveRefused"}


def move(job: Job, ctx: ExecutionContext, progress: ProgressSink | None = None) -> MoverReport:
    try:
        return run_job(job, ctx.efs_root, ctx.worker_mover, progress, ctx.datasync_mover)
    except MoverUnavailable as error:
        if error.waiting:
            raise RequeueAfter(SETTLE_SECONDS, str(error)) from error
        raise TerminalError("NotMounted", str(error)) from error
    except JobRefused as error:
        raise TerminalError(REFUSED_CODES[job.kind], str(error)) from error
