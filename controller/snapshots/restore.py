"""Restoring: a snapshot (or a live home) into a target directory, verified first.

Where the bytes land before they are verified: the archive is extracted into a staging
folder this restore makes inside the target (staging.py: root's, 0700, so no user can
see or touch it), while each part is checked against its SHA-256 in the manifest
(and, encrypted, each frame's GCM tag, with the end of stream authenticated). Only
when the whole stream verified does anything become visible: the staging folder is
renamed into place (`restored-<time>/`, the default) or merged into the target entry
by entry with renames (merge.py: fill missing, overwrite older). A tampered or truncated
snapshot therefore leaves the target as it was: the staging folder is removed. The
alternative, a verification pass over every part before extracting, would read the
archive twice; this reads it once.

This module must not write outside the target, follow a link in it, or remove anything
it did not make (only its own staging folder).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.fs.safe_dirs import open_directory
from controller.snapshots.archiver import ArchiveStats, Decompressor, create_stream
from controller.snapshots.extract import (
    MAX_SKIPPED_SHOWN,
    Extractor,
    ExtractReport,
    HostileArchive,
    apply_root_metadata,
    shown,
)
from controller.snapshots.frames import FrameError, Opener
from controller.snapshots.manifest import Manifest, ManifestError, stamp_of
from controller.snapshots.merge import merge_into
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.s3stream import ChecksumMismatch, PartReader
from controller.snapshots.staging import make_staging, remove_staging, remove_stale_staging
from controller.snapshots.tarstream import TarFormatError, TarReader

NEW_FOLDER, FILL_MISSING, OVERWRITE_OLDER = "newFolder", "fillMissing", "overwriteOlder"
MODES = (NEW_FOLDER, FILL_MISSING, OVERWRITE_OLDER)


class SnapshotRefused(Exception):
    """The snapshot failed verification (checksum, authentication, format): nothing of
    it was written to the target."""


@dataclass
class RestoreProgress:
    """Read by the CLI while a restore runs (another thread)."""

    total_bytes: int = 0  # the archive's stored size, for an ETA (0: not known, a live home)
    read_bytes: int = 0  # of the stored archive, verified
    started: float = 0.0
    extracted: ExtractReport | None = None  # the extractor's running counts

    @property
    def files(self) -> int:
        return self.extracted.files if self.extracted else 0

    @property
    def bytes(self) -> int:
        return self.extracted.data_bytes if self.extracted else 0


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
    if manifest.compression != "zstd":
        # A notebook instance's gzip archive: restored on an instance by its lifecycle
        # script (controller/notebooks), or by hand with `aws s3 cp | gzip -d | tar -x`.
        raise ManifestError(f"{manifest.id} is compressed with {manifest.compression}; "
                            "the controller restores zstd archives only")
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


def open_target(mount: str, parts: list[str]) -> int:
    """The restore's target folder, every component opened without following a link."""
    return open_directory(Path(mount), "/" + "/".join(parts))


class StreamSource(Protocol):
    """A tar stream being produced: `close()` raises when it did not verify; `abort()`
    stops the producer when the extraction gave up first."""

    stream: Any

    def close(self) -> None: ...

    def abort(self) -> None: ...


def restore_into(target_fd: int, open_stream: Callable[[], StreamSource], owners: OwnerPolicy,
                 mode: str, set_owner: bool, now: float | None = None,
                 on_staging: Callable[[str], None] | None = None,
                 progress: RestoreProgress | None = None,
                 stale: Iterable[str] = ()) -> RestoreReport:
    """Extract the tar stream `open_stream()` produces into a staging folder of the target,
    then (once it verified) put it in place. Staging folders of dead restores in the
    target go first (staging.py; `stale`: names the controller recorded for a restore
    it was running when it stopped); `on_staging(name)` is told the new one's name
    before anything is written into it (the controller records it)."""
    if mode not in MODES:
        raise ValueError(f"unknown restore mode {mode!r}")
    started = time.monotonic()
    remove_stale_staging(target_fd, stale)
    staging, staging_fd = make_staging(target_fd)
    placed = False
    try:
        if on_staging is not None:
            on_staging(staging)
        source = open_stream()
        extractor = Extractor(staging_fd, owners, set_owner)
        if progress is not None:
            progress.extracted = extractor.report
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
            merge_into(staging_fd, target_fd, mode == OVERWRITE_OLDER,
                       lambda path, reason: _skip(report, path, reason))
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
                     cancelled: Callable[[], bool] = lambda: False,
                     on_staging: Callable[[str], None] | None = None,
                     stale: Iterable[str] = ()) -> RestoreReport:
    progress = progress or RestoreProgress()
    progress.total_bytes = manifest.bytes_out
    progress.started = time.time()

    return restore_into(target_fd, lambda: Decompressor(_stored_chunks(
        s3, kms, manifest, progress, cancelled)), owners, mode, set_owner,
        on_staging=on_staging, progress=progress, stale=stale)


def restore_live(source_fd: int, target_fd: int, owners: OwnerPolicy, mode: str = NEW_FOLDER,
                 set_owner: bool = True, progress: RestoreProgress | None = None,
                 cancelled: Callable[[], bool] = lambda: False,
                 on_staging: Callable[[str], None] | None = None,
                 stale: Iterable[str] = ()) -> RestoreReport:
    """A live home into another: tar's plain stream straight into the extractor."""
    progress = progress or RestoreProgress()
    progress.started = time.time()
    stats = ArchiveStats()
    return restore_into(target_fd, lambda: _IterStream(create_stream(
        source_fd, None, cancelled, stats), progress), owners, mode, set_owner,
        on_staging=on_staging, progress=progress, stale=stale)


class _IterStream:
    """A read()-able view of an iterator of chunks (one buffer, an offset into it: the
    tar reader's many 512-byte reads must not copy the rest of a megabyte each)."""

    def __init__(self, chunks: Generator[bytes, None, None],
                 progress: RestoreProgress | None = None) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._offset = 0
        self._progress = progress
        self.stream = self

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer, self._offset = chunk, 0
            if self._progress is not None:
                self._progress.read_bytes += len(chunk)
        end = len(self._buffer) if size < 0 else self._offset + size
        data = self._buffer[self._offset:end]
        self._offset += len(data)
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


def _skip(report: RestoreReport, path: str, reason: str) -> None:
    report.skipped_count += 1
    if len(report.skipped) < MAX_SKIPPED_SHOWN:
        report.skipped.append((shown(path), reason))
