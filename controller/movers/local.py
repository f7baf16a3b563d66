"""The local engine: run a job with the in-process copy engine (or the save walk) when
both file systems are mounted where this process runs (`Mounts`: file system id -> the
folder it is mounted at; the controller's are `<efs root>/<fs id>`).

The worker task runs jobs through this same engine against its own mounts, so a job gives
the same results wherever it runs. This module must not talk to AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.fs.copy import CopyRefused, copy_tree
from controller.fs.copy import Progress as CopyProgress
from controller.fs.salvage import SalvageRefused, save_unreplicated
from controller.movers.jobs import CopyJob, Job, MoverReport, SavedPath, SaveJob


class JobRefused(Exception):
    """The job cannot run at all (a root missing or a link, a bad folder name): retrying
    the same job will not help."""


@dataclass(frozen=True)
class Tick:
    """Progress: entries done (copied, or compared for a save), bytes, seconds since start."""

    files: int
    bytes: int
    elapsed: float


ProgressSink = Callable[[Tick], None]
Mounts = Mapping[str, Path]


def under(root: Path, job: Job) -> dict[str, Path]:
    """The job's file systems mounted as `<root>/<fs id>`."""
    return {fs: root / fs for fs in job.file_systems}


def tree(mounts: Mounts, file_system: str, path: str) -> Path:
    """Where `path` of `file_system` is mounted here; never above the file system."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise JobRefused(f"{path!r} climbs out of {file_system}")
    if file_system not in mounts:
        raise JobRefused(f"{file_system} is not mounted here")
    return mounts[file_system].joinpath(*parts)


def mounted(root: Path | None, job: Job) -> bool:
    return root is not None and all((root / fs).is_dir() for fs in job.file_systems)


def run_locally(job: Job, mounts: Mounts, progress: ProgressSink | None = None,
                engine: str = "local") -> MoverReport:
    if isinstance(job, CopyJob):
        return _copy(job, mounts, progress, engine)
    if isinstance(job, SaveJob):
        return _save(job, mounts, progress, engine)
    raise JobRefused(f"a {job.kind} job is one step of a save across regions "
                     "(controller.movers.relay), not a local job")


def _copy(job: CopyJob, root: Mounts, progress: ProgressSink | None,
          engine: str) -> MoverReport:
    def tick(value: CopyProgress) -> None:
        if progress is not None:
            progress(Tick(value.files, value.bytes, value.elapsed))
    try:
        report = copy_tree(tree(root, job.source_fs, job.source_path),
                           tree(root, job.target_fs, job.target_path), progress=tick)
    except CopyRefused as error:
        raise JobRefused(str(error)) from error
    return MoverReport(
        kind="copy", engine=engine, files=report.files_copied, bytes=report.bytes_copied,
        skipped=report.up_to_date, errors=tuple(str(e) for e in report.errors),
        conflicts=tuple(report.conflicts), not_kept=tuple(str(e) for e in report.not_kept),
        duration_seconds=report.duration_seconds)


def _save(job: SaveJob, root: Mounts, progress: ProgressSink | None,
          engine: str) -> MoverReport:
    def tick(compared: int) -> None:
        if progress is not None:
            progress(Tick(compared, 0, 0.0))
    try:
        report = save_unreplicated(tree(root, job.old_fs, ""), tree(root, job.active_fs, ""),
                                   job.folder, progress=tick)
    except SalvageRefused as error:
        raise JobRefused(str(error)) from error
    return MoverReport(
        kind="save", engine=engine, files=len(report.saved), bytes=report.bytes,
        skipped=report.compared - len(report.saved), errors=tuple(report.errors),
        not_kept=tuple(report.not_kept),
        saved=tuple(SavedPath(e.path, e.reason, e.size) for e in report.saved),
        folder=report.folder, compared=report.compared, summary=report.summary())
