"""Taking one snapshot: archive a directory, stream it to S3, write the manifest last.

The directory is opened from the file system's mount root one component at a time
without following links (controller.fs.safe_dirs.open_directory), and tar archives it through
that descriptor. The archive is uploaded part by part as zstd produces it (optionally
sealed in AES-256-GCM frames under a fresh KMS data key, by the upload threads); the
manifest is put only after the multipart upload completed, so a snapshot that has no
manifest never finished and is never listed. Any failure or cancel aborts the multipart upload.
This module must not decide when to snapshot or what to keep (plan/ and retention do).
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.fs import safe_dirs
from controller.snapshots.archiver import ArchiveStats, create_stream
from controller.snapshots.frames import ALGORITHM, FRAME_SIZE, PartSealer
from controller.snapshots.manifest import (
    ARCHIVE_NAME,
    ENCRYPTED_ARCHIVE_NAME,
    MANIFEST_NAME,
    Encryption,
    Manifest,
    Source,
    composite_sha256,
    object_key,
    snapshot_id,
)
from controller.snapshots.s3stream import MultipartWriter

CONTEXT_KEY = "studio-operator:snapshot"


class SourceUnavailable(Exception):
    """The directory to snapshot is missing, or a link or file stands on its path."""


@dataclass(frozen=True)
class SnapshotRequest:
    policy: str
    source_id: str  # home/<domain>/<profile>/<share> or share/<share>[/<domain>]
    source: Source
    bucket: str
    prefix: str
    stamp: str
    revision: str
    level: int = 3
    kms_key_id: str | None = None

    @property
    def id(self) -> str:
        return snapshot_id(self.policy, self.source_id, self.stamp)


@dataclass
class SnapshotProgress:
    """Read by the job runner and the CLI while a snapshot runs."""

    files: int = 0
    bytes_in: int = 0  # not known until tar ends; files and bytes_out move meanwhile
    bytes_out: int = 0
    started: float = 0.0


def open_directory(mount: Path, path: str) -> int:
    """An fd of `mount`/`path`, each component opened O_NOFOLLOW (never a planted link)."""
    try:
        return safe_dirs.open_directory(mount, path)
    except (OSError, safe_dirs.UnsafePathError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise SourceUnavailable(f"{path} on {mount.name}: {reason or error}") from error


def take_snapshot(s3: Any, kms: Any, request: SnapshotRequest, mount: Path,
                  progress: SnapshotProgress | None = None,
                  cancelled: Callable[[], bool] = lambda: False,
                  names: int | None = None, root_fd: int | None = None) -> Manifest:
    """`names`: only the entries listed there (archiver.create_stream). `root_fd`: the
    directory to archive, opened by the caller (a whole file system's root, which is no
    share directory), instead of `request.source.path` under `mount`."""
    progress = progress or SnapshotProgress()
    progress.started = time.time()
    started = time.time()
    source_fd = os.dup(root_fd) if root_fd is not None else open_directory(
        mount, request.source.path)
    encryption: Encryption | None = None
    sealer: PartSealer | None = None
    try:
        if request.kms_key_id:
            context = {CONTEXT_KEY: request.id}
            key = kms.generate_data_key(KeyId=request.kms_key_id, KeySpec="AES_256",
                                        EncryptionContext=context)
            stream_id = os.urandom(16)
            sealer = PartSealer(key["Plaintext"], stream_id)
            encryption = Encryption(ALGORITHM, key["KeyId"],
                                    base64.b64encode(key["CiphertextBlob"]).decode(),
                                    stream_id.hex(), FRAME_SIZE, context)
            del key
        name = ENCRYPTED_ARCHIVE_NAME if sealer else ARCHIVE_NAME
        archive_key = object_key(request.prefix, request.id, name)
        # The upload threads seal the parts (the writer's transform), each part's frames
        # numbered from where the part starts: this thread only moves the archive.
        writer = MultipartWriter(s3, request.bucket, archive_key, cancelled,
                                 {"studio-operator-snapshot": request.id}, transform=sealer)
        stats = ArchiveStats()
        try:
            for chunk in create_stream(source_fd, request.level, cancelled, stats,
                                       names=names):
                writer.write(chunk)
                progress.bytes_out = writer.bytes_written
                progress.files = stats.counts["files"]
            parts = writer.complete()
        except BaseException:
            with contextlib.suppress(Exception):  # the next pass sweeps what is left open
                writer.abort()
            raise
    finally:
        os.close(source_fd)
    progress.bytes_in = stats.bytes_in
    manifest = Manifest(
        id=request.id, policy=request.policy, source=request.source, created_at=started,
        completed_at=time.time(), revision=request.revision, bucket=request.bucket,
        archive_key=archive_key, compression="zstd", compression_level=request.level,
        parts=tuple(parts), sha256=composite_sha256([p.sha256 for p in parts]),
        bytes_in=stats.bytes_in, bytes_out=sum(p.size for p in parts),
        counts=dict(stats.counts), uids=tuple(sorted(stats.uids)),
        gids=tuple(sorted(stats.gids)), encryption=encryption)
    try:
        s3.put_object(Bucket=request.bucket, Key=object_key(request.prefix, request.id,
                                                            MANIFEST_NAME),
                      Body=manifest.to_json().encode(), ContentType="application/json")
    except BaseException:
        with contextlib.suppress(Exception):  # an archive without a manifest is no snapshot
            s3.delete_object(Bucket=request.bucket, Key=archive_key)
        raise
    return manifest
