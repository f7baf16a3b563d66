"""What a copy did, as frozen values: the final report, progress ticks and entry errors.

This module only describes outcomes and renders them for people and programs. It must
not touch the file system or decide anything about what to copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from controller.escaping import escape


@dataclass(frozen=True)
class Progress:
    """A progress tick: non-directory entries copied so far, their bytes, seconds since start."""

    files: int
    bytes: int
    elapsed: float


@dataclass(frozen=True, order=True)
class EntryError:
    """One entry (path relative to the copy roots) that could not be copied, and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '.'}: {self.message}"

    def line(self) -> str:
        """For a line of text: the name escaped (controller.escaping), never a line break."""
        return escape(str(self))


@dataclass(frozen=True)
class CopyReport:
    """Counts are of entries acted on (or, with dry_run, that would be acted on)."""

    files_copied: int
    bytes_copied: int
    directories_created: int
    symlinks_created: int
    hard_links_made: int
    special_files_created: int
    metadata_fixed: int  # entries whose owner/mode/mtime was corrected without a copy
    up_to_date: int
    extra: int  # entries found only in the target: always left in place, never removed
    conflicts: tuple[str, ...]  # target newer and different: left alone unless asked
    errors: tuple[EntryError, ...]
    # Extended attributes and ACLs the target could not hold (its file system lacks
    # them, or not root): the entries were copied, these attributes were not.
    not_kept: tuple[EntryError, ...]
    owners_not_set: bool  # not running as root: uid/gid were neither set nor compared
    overwrite_newer: bool
    dry_run: bool
    duration_seconds: float
    workers: int = 0  # the parallel workers the copy ran with
    workers_reason: str = ""  # why that many: set by the caller, or the medium's probe

    @property
    def conflicts_left(self) -> bool:
        """Conflicts exist and were not overwritten: the target still differs from the source."""
        return bool(self.conflicts) and not self.overwrite_newer

    @property
    def ok(self) -> bool:
        return not self.errors and not self.conflicts_left

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [{"path": e.path, "message": e.message} for e in self.errors]
        data["not_kept"] = [{"path": e.path, "message": e.message} for e in self.not_kept]
        data["conflicts"] = list(self.conflicts)
        data["ok"] = self.ok
        return data


def render_text(report: CopyReport, max_listed: int = 50) -> str:
    """A summary for people; long conflict/error lists are cut with a count of the rest.
    Names are escaped (controller.escaping): one line per entry, whatever its name."""
    verb = "would copy" if report.dry_run else "copied"
    lines = [
        f"{verb} {report.files_copied} files ({_human(report.bytes_copied)}), "
        f"{report.directories_created} directories, {report.symlinks_created} symlinks, "
        f"{report.hard_links_made} hard links, {report.special_files_created} special files "
        f"in {report.duration_seconds:.2f}s",
        f"workers: {report.workers} ({report.workers_reason})",
        f"metadata fixed: {report.metadata_fixed}; up to date: {report.up_to_date}; "
        f"extra in target (left in place): {report.extra}",
    ]
    if report.owners_not_set:
        lines.append("owners (uid/gid) were not set or compared: not running as root")
    if report.conflicts:
        lines.append(
            f"conflicts: {len(report.conflicts)} entries are newer in the target and differ; "
            + ("they were overwritten (--overwrite-newer)" if report.overwrite_newer
               else "they were left alone (use --overwrite-newer to replace them)"))
        lines += [f"  conflict: {escape(path)}" for path in report.conflicts[:max_listed]]
        lines += _more(len(report.conflicts), max_listed)
    if report.not_kept:
        lines.append(f"not kept (the target cannot hold them): {len(report.not_kept)} "
                     "extended attributes or ACLs")
        lines += [f"  not kept: {entry.line()}" for entry in report.not_kept[:max_listed]]
        lines += _more(len(report.not_kept), max_listed)
    if report.errors:
        lines.append(f"errors: {len(report.errors)}")
        lines += [f"  error: {error.line()}" for error in report.errors[:max_listed]]
        lines += _more(len(report.errors), max_listed)
    return "\n".join(lines) + "\n"


def render_progress(progress: Progress) -> str:
    rate = progress.bytes / progress.elapsed if progress.elapsed > 0 else 0.0
    return (f"{progress.files} files, {_human(progress.bytes)} "
            f"in {progress.elapsed:.1f}s ({_human(rate)}/s)")


def _more(total: int, shown: int) -> list[str]:
    return [f"  ... and {total - shown} more (see --output json)"] if total > shown else []


def _human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
