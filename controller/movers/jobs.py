"""What a data mover is asked to do and what it answers, as plain values with a JSON form.

A job names file systems by id and trees by their path inside them, never by where they
are mounted: the controller, a worker task and the emulator each mount them somewhere
else. The JSON forms are what travels through S3 between the controller and a worker
task. This module must do no I/O and decide nothing about how a job is run.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JOB_VERSION = 1


@dataclass(frozen=True)
class CopyJob:
    """Copy the tree `source_path` of `source_fs` onto `target_path` of `target_fs` with the
    copy engine's rules: nothing in the target removed, what is newer there kept."""

    source_fs: str
    target_fs: str
    purpose: str  # a metric label: "working_copy", "active_active"
    source_path: str = ""
    target_path: str = ""
    kind: Literal["copy"] = "copy"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.source_fs, self.target_fs)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.source_fs,)


@dataclass(frozen=True)
class SaveJob:
    """Save what the old copy `old_fs` holds that `active_fs` does not hold the same, into
    the recovery folder `folder` of `active_fs` (controller.fs.salvage's rules)."""

    old_fs: str
    active_fs: str
    folder: str
    purpose: str = "recovery"
    kind: Literal["save"] = "save"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.old_fs, self.active_fs)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.old_fs,)


# A save across a region boundary is three jobs, each on one file system in its own
# region, meeting in S3 under `relay` (s3://bucket/prefix/, in `relay_region`):
# the active copy's listing, then the old copy's differences as a snapshot, then their
# extraction into the recovery folder (controller.movers.relay).
@dataclass(frozen=True)
class ListJob:
    """Write the listing of `fs` (the active copy) to `<relay>listing.zst`."""

    fs: str
    relay: str
    relay_region: str
    purpose: str = "recovery"
    kind: Literal["list"] = "list"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.fs,)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.fs,)


@dataclass(frozen=True)
class SendJob:
    """Send what `old_fs` holds that the listing does not hold the same, as a snapshot."""

    old_fs: str
    relay: str
    relay_region: str
    purpose: str = "recovery"
    kind: Literal["send"] = "send"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.old_fs,)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.old_fs,)


@dataclass(frozen=True)
class ReceiveJob:
    """Extract what was sent into the recovery folder `folder` of `active_fs`."""

    active_fs: str
    folder: str
    relay: str
    relay_region: str
    purpose: str = "recovery"
    kind: Literal["receive"] = "receive"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.active_fs,)

    @property
    def read_only(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class RestoreJob:
    """A Restore (controller.snapshots.restore: staged, verified, owners by `owners`) into
    `target_path` of `target_fs`: from the snapshot whose manifest is `manifest`
    (s3://bucket/key, in `snapshot_region`), or from the live home `live_path` of
    `live_fs` (in the same region). `stale`: staging folders in the target that a stopped
    run of this restore recorded (removed first)."""

    target_fs: str
    target_path: str
    mode: str
    owners: str
    uid_map: dict[str, int] = field(default_factory=dict)
    gid_map: dict[str, int] = field(default_factory=dict)
    target_owner: tuple[int, int] | None = None
    manifest: str = ""
    snapshot_region: str = ""
    live_fs: str = ""
    live_path: str = ""
    stale: tuple[str, ...] = ()
    purpose: str = "restore"
    kind: Literal["restore"] = "restore"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.live_fs, self.target_fs) if self.live_fs else (self.target_fs,)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.live_fs,) if self.live_fs else ()


@dataclass(frozen=True)
class SnapshotJob:
    """Take a snapshot of a tree of `fs` (controller.snapshots.snapshot: the archive, the
    manifest last, the multipart upload aborted on failure): `request` holds the
    SnapshotRequest's fields; its bucket is in `bucket_region`."""

    fs: str
    request: dict[str, Any]
    bucket_region: str
    purpose: str = "snapshot"
    kind: Literal["snapshot"] = "snapshot"

    @property
    def file_systems(self) -> tuple[str, ...]:
        return (self.fs,)

    @property
    def read_only(self) -> tuple[str, ...]:
        return (self.fs,)


Job = CopyJob | SaveJob | ListJob | SendJob | ReceiveJob | RestoreJob | SnapshotJob
_KINDS: dict[str, type[Any]] = {"copy": CopyJob, "save": SaveJob, "list": ListJob,
                                "send": SendJob, "receive": ReceiveJob,
                                "restore": RestoreJob, "snapshot": SnapshotJob}


@dataclass(frozen=True)
class SavedPath:
    path: str  # relative to the file system root
    reason: str  # "missing" from the active copy, or "differs" there
    size: int = 0


@dataclass(frozen=True)
class MoverReport:
    """What a job did, whichever engine ran it. `errors`, `conflicts` and `not_kept` hold
    raw text (a name may hold any byte): escape before putting one in a line."""

    kind: str
    engine: str
    files: int  # entries copied (or saved)
    bytes: int
    skipped: int  # already there and the same (copy), or compared and the same (save)
    errors: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()  # newer in the target: kept, not overwritten
    not_kept: tuple[str, ...] = ()  # xattrs/ACLs the target could not hold
    saved: tuple[SavedPath, ...] = ()
    folder: str = ""  # a save's recovery folder, relative to the active copy's root
    compared: int = 0
    summary: str = ""
    duration_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | builtins.bytes) -> MoverReport:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a mover report is a JSON object")
        data["saved"] = tuple(SavedPath(**entry) for entry in data.get("saved", ()))
        for name in ("errors", "conflicts", "not_kept"):
            data[name] = tuple(str(item) for item in data.get(name, ()))
        return cls(**data)


def job_to_json(job: Job) -> str:
    return json.dumps({"version": JOB_VERSION, **asdict(job)}, sort_keys=True)


def job_from_json(text: str | bytes) -> Job:
    data = json.loads(text)
    if not isinstance(data, dict) or data.pop("version", None) != JOB_VERSION:
        raise ValueError(f"not a version {JOB_VERSION} mover job")
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    try:
        job: Job = _KINDS[kind](**data)
    except TypeError as error:
        raise ValueError(f"a {kind} job with unknown or missing fields: {error}") from error
    return job
