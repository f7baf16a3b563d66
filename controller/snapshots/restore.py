"""Restoring: a snapshot (or a live home) into a target directory, verified first.

Where the bytes land before they are verified (measured in bench/snapshot.py, and the
reason for this design): the archive is extracted into a staging folder this restore
makes inside the target (`.studio-restore-<token>.partial`, root's, 0700, so no user
can see or touch it), while each part is checked against its SHA-256 in the manifest
(and, encrypted, each frame's GCM tag, with the end of stream authenticated). Only
when the whole stream verified does anything become visible: the staging folder is
renamed into place (`restored-<time>/`, the default) or merged into the target entry
by entry with renames (fill missing, overwrite older). A tampered or truncated snapshot
therefore leaves the target as it was: the staging folder is removed. The alternative,
a verification pass over every part before extracting, reads the archive twice; this
reads it once (bench/snapshot.py reports what that second pass would cost).

This module must not write outside the target, follow a link in it, or remove anything
it did not make (only its own staging folder).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.snapshots.archiver import ArchiveStats, Decompressor, create_stream
from controller.snapshots.extract import (
    Extractor,
    ExtractReport,
    HostileArchive,
    apply_root_metadata,
)
from controller.snapshots.frames import FrameError, Opener
from controller.snapshots.manifest import Manifest, stamp_of
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.s3stream import ChecksumMismatch, PartReader
from controller.snapshots.tarstream import TarFormatError, TarReader

NEW_FOLDER, FILL_MISSING, OVERWRITE_OLDER = "newFolder", "fillMissing", "overwriteOlder"
MODES = (NEW_FOLDER, FILL_MISSING, OVERWRITE_OLDER)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
STAGING_PREFIX = ".studio-restore-"


class SnapshotRefused(Exception):
    """The snapshot failed verification (checksum, authentication, format): nothing of
    it was written to the target."""


@dataclass
class RestoreProgress:
    files: int = 0
    bytes: int = 0
    total_bytes: int = 0  # the archive's stored size, for an ETA
    read_bytes: int = 0
    started: float = 0.0


@dataclass
class RestoreReport:
    files: int = 0
    directories: int = 0
    symlinks: int = 0
    hard_links: int = 0
    bytes: int = 0
    seconds: float = 0.0
    placed_in: str = ""  # the folder made (newFolder) or "." (merged into the target)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "directories": self.directories,
                "symlinks": self.symlinks, "hardLinks": self.hard_links, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "placedIn": self.placed_in,
                "skippedCount": self.skipped_count,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped[:50]],
                "notes": sorted(self.notes)}


def _stored_chunks(s3: Any, kms: Any, manifest: Manifest, progress: RestoreProgress,
                   cancelled: Callable[[], bool]) -> Iterator[bytes]:
    head = s3.head_object(Bucket=manifest.bucket, Key=manifest.archive_key)
    if int(head["ContentLength"]) != manifest.bytes_out:
        raise ChecksumMismatch(f"s3://{manifest.bucket}/{manifest.archive_key} holds "
                               f"{head['ContentLength']} bytes, its manifest says "
                               f"{manifest.bytes_out}: truncated or replaced")
    opener: Opener | None = None
    if manifest.encryption is not None:
        import base64

        enc = manifest.encryption
        key = kms.decrypt(CiphertextBlob=base64.b64decode(enc.wrapped_key),
                          EncryptionContext=enc.context, KeyId=enc.key_id)["Plaintext"]
        opener = Opener(key, bytes.fromhex(enc.stream_id))
        del key
    for data in PartReader(s3, manifest.bucket, manifest.archive_key, manifest.parts,
                           cancelled):
        progress.read_bytes += len(data)
        if opener is None:
            yield data
        else:
            yield from opener.update(data)
    if opener is not None:
        opener.finish()


def open_target(mount_fd_path: str, parts: list[str]) -> int:
    fd = os.open(mount_fd_path, _DIR)
    try:
        for part in parts:
            child = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_staging(target_fd: int) -> tuple[str, int]:
    for _ in range(20):
        name = f"{STAGING_PREFIX}{secrets.token_hex(6)}.partial"
        try:
            os.mkdir(name, 0o700, dir_fd=target_fd)
        except FileExistsError:
            continue
        fd = os.open(name, _DIR, dir_fd=target_fd)
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            os.close(fd)
            raise PermissionError(f"staging folder {name} is not ours alone")
        return name, fd
    raise FileExistsError("could not make a staging folder in the target")


def remove_staging(target_fd: int, name: str, staging_fd: int) -> None:
    """Remove our own staging folder (shutil's fd-based rmtree never follows a link), and
    only if the name still holds it: a user may rename things in their own folder."""
    ours = os.fstat(staging_fd)
    try:
        there = os.stat(name, dir_fd=target_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if (there.st_dev, there.st_ino) == (ours.st_dev, ours.st_ino):
        shutil.rmtree(name, dir_fd=target_fd)


class StreamSource(Protocol):
    """A tar stream being produced: `close()` raises when it did not verify; `abort()`
    stops the producer when the extraction gave up first."""

    stream: Any

    def close(self) -> None: ...

    def abort(self) -> None: ...


def restore_into(target_fd: int, open_stream: Callable[[], StreamSource], owners: OwnerPolicy,
                 mode: str, set_owner: bool, now: float | None = None) -> RestoreReport:
    """Extract the tar stream `open_stream()` produces into a staging folder of the target,
    then (once it verified) put it in place."""
    if mode not in MODES:
        raise ValueError(f"unknown restore mode {mode!r}")
    started = time.monotonic()
    staging, staging_fd = make_staging(target_fd)
    placed = False
    try:
        source = open_stream()
        extractor = Extractor(staging_fd, owners, set_owner)
        try:
            extracted = extractor.extract(TarReader(source.stream))
        except TarFormatError as error:
            source.close()  # a checksum failure explains a cut stream better than tar does
            raise SnapshotRefused(f"not a readable snapshot archive: {error}") from error
        except HostileArchive as error:
            source.abort()
            raise SnapshotRefused(f"the archive tries to reach outside the restore: {error}; "
                                  "nothing of it was kept") from error
        except BaseException:
            source.abort()
            raise
        source.close()
        report = _report(extracted)
        if mode == NEW_FOLDER:
            apply_root_metadata(staging_fd, extracted.root, extractor)
            report.placed_in = _place(target_fd, staging, now or time.time())
            placed = True
        else:
            _merge(staging_fd, target_fd, mode == OVERWRITE_OLDER, report, "")
            report.placed_in = "."
    except (ChecksumMismatch, FrameError) as error:
        raise SnapshotRefused(f"{error}; nothing of it was kept") from error
    finally:
        if not placed:
            remove_staging(target_fd, staging, staging_fd)
        os.close(staging_fd)
    report.seconds = time.monotonic() - started
    return report


def restore_snapshot(s3: Any, kms: Any, manifest: Manifest, target_fd: int, owners: OwnerPolicy,
                     mode: str = NEW_FOLDER, set_owner: bool = True,
                     progress: RestoreProgress | None = None,
                     cancelled: Callable[[], bool] = lambda: False) -> RestoreReport:
    progress = progress or RestoreProgress()
    progress.total_bytes = manifest.bytes_out
    progress.started = time.time()

    return restore_into(target_fd, lambda: Decompressor(_stored_chunks(
        s3, kms, manifest, progress, cancelled)), owners, mode, set_owner)


def restore_live(source_fd: int, target_fd: int, owners: OwnerPolicy, mode: str = NEW_FOLDER,
                 set_owner: bool = True, progress: RestoreProgress | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> RestoreReport:
    """A live home into another: tar's plain stream straight into the extractor."""
    stats = ArchiveStats()
    return restore_into(target_fd, lambda: _IterStream(create_stream(
        source_fd, None, cancelled, stats)), owners, mode, set_owner)


class _IterStream:
    """A read()-able view of an iterator of chunks."""

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.stream = self

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        for _ in self._chunks:
            pass

    def abort(self) -> None:
        self._chunks.close()  # create_stream's cleanup kills tar


def _report(extracted: ExtractReport) -> RestoreReport:
    return RestoreReport(files=extracted.files, directories=extracted.directories,
                         symlinks=extracted.symlinks, hard_links=extracted.hard_links,
                         bytes=extracted.data_bytes, skipped=list(extracted.skipped),
                         skipped_count=extracted.skipped_count, notes=sorted(extracted.notes))


def _place(target_fd: int, staging: str, now: float) -> str:
    base = f"restored-{stamp_of(now)}"
    for attempt in range(1, 100):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            os.stat(name, dir_fd=target_fd, follow_symlinks=False)
            continue
        except FileNotFoundError:
            pass
        # renameat2(RENAME_NOREPLACE) is not in os; the check above and a user racing a
        # name into their own folder can only make this rename replace their own entry.
        os.rename(staging, name, src_dir_fd=target_fd, dst_dir_fd=target_fd)
        return name
    raise FileExistsError("no free restored-<time> name in the target")


def _merge(staged: int, target: int, overwrite_older: bool, report: RestoreReport,
           where: str) -> None:
    """Move staged entries into the target: missing ones always; existing non-directories
    only when older there and overwrite_older. Renames replace a link, never follow it."""
    for entry in list(os.scandir(staged)):
        name = entry.name
        shown = f"{where}{name}"
        mine = entry.stat(follow_symlinks=False)
        try:
            theirs = os.stat(name, dir_fd=target, follow_symlinks=False)
        except FileNotFoundError:
            os.rename(name, name, src_dir_fd=staged, dst_dir_fd=target)
            continue
        if stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(theirs.st_mode):
            inner_staged = os.open(name, _DIR, dir_fd=staged)
            try:
                inner_target = os.open(name, _DIR, dir_fd=target)
            except OSError:
                os.close(inner_staged)
                _skip(report, shown, "the target's entry changed while merging")
                continue
            try:
                _merge(inner_staged, inner_target, overwrite_older, report, f"{shown}/")
            finally:
                os.close(inner_staged)
                os.close(inner_target)
        elif stat.S_ISDIR(mine.st_mode) or stat.S_ISDIR(theirs.st_mode):
            _skip(report, shown, "a directory on one side and not on the other: kept")
        elif overwrite_older and theirs.st_mtime_ns < mine.st_mtime_ns:
            os.rename(name, name, src_dir_fd=staged, dst_dir_fd=target)
        else:
            _skip(report, shown, "exists in the target (newer or as new)" if overwrite_older
                  else "exists in the target")


def _skip(report: RestoreReport, shown: str, reason: str) -> None:
    from controller.snapshots.extract import MAX_SKIPPED_SHOWN, escape_name

    report.skipped_count += 1
    if len(report.skipped) < MAX_SKIPPED_SHOWN:
        report.skipped.append((escape_name(os.fsencode(shown)), reason))
