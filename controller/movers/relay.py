"""The worker's side of a save across a region boundary: list, send, receive, through S3.

No mount crosses a region, so the old copy and the active copy are never compared in one
process. Three jobs, each run by a worker in its own file system's region (regions.py
starts them), meet under one S3 prefix (the job's `relay`, in the active region's bucket):

    listing.zst   the active copy's listing (listing.py), zstd-compressed, streamed up
                  part by part (the snapshots' MultipartWriter): bounded memory
    recovery/share/<old fs>/<stamp>/archive.tar.zst, manifest.json
                  what the old copy holds that the listing does not hold the same, as a
                  snapshot in the snapshot format (controller.snapshots: its archiver
                  given the list of names, its uploader, its manifest)
    sent.json     the saved entries (path, reason, size) and where the manifest is

and the receiving worker extracts the snapshot with the snapshots' verified, no-follow
restore (owners kept) into the recovery folder salvage.py makes, then writes its
saved-files.txt last, as a local save does. This module must not decide what to save
beyond "differs from the listing", nor delete anything (regions.py cleans the prefix).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zstandard

from controller.fencing import RECOVERY_ROOT
from controller.fs.dirstack import OPEN_DIR
from controller.fs.salvage import (
    SalvageRefused,
    SalvageReport,
    SavedEntry,
    open_recovery,
    write_manifest,
)
from controller.gateway import AwsGateway
from controller.movers.carrier import S3Location, parse
from controller.movers.jobs import ListJob, MoverReport, ReceiveJob, SavedPath, SendJob
from controller.movers.listing import Listed, differences, records, walk
from controller.snapshots.manifest import Manifest, Source, share_source, stamp_of
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import FILL_MISSING, SnapshotRefused, restore_snapshot
from controller.snapshots.s3stream import MultipartWriter
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot

LISTING, SENT = "listing.zst", "sent.json"
POLICY = "recovery"


class RelayRefused(Exception):
    """The job cannot run as asked (a root missing or a link, an unusable relay)."""


def where(job: ListJob | SendJob | ReceiveJob) -> S3Location:
    place = parse(job.relay.rstrip("/") + "/x")
    if not isinstance(place, S3Location):
        raise RelayRefused(f"the relay {job.relay!r} is not an s3:// prefix")
    return S3Location(place.bucket, place.key[:-1])  # the prefix, ending with "/"


def run_relay(job: ListJob | SendJob | ReceiveJob, mount: Path,
              gateway: AwsGateway) -> MoverReport:
    """Run one of the three jobs with its file system mounted at `mount`."""
    s3 = gateway.client("s3", job.relay_region)
    if isinstance(job, ListJob):
        return _list(job, mount, s3)
    if isinstance(job, SendJob):
        return _send(job, mount, s3)
    return _receive(job, mount, s3)


def _open_root(mount: Path) -> int:
    try:
        return os.open(mount, OPEN_DIR)
    except OSError as error:
        raise RelayRefused(f"cannot open {mount}: {error.strerror}") from error


# -- the active copy's listing ---------------------------------------------------------------
def _list(job: ListJob, mount: Path, s3: Any) -> MoverReport:
    started = time.monotonic()
    place = where(job)
    errors: list[str] = []
    root = _open_root(mount)
    writer = MultipartWriter(s3, place.bucket, place.key + LISTING)
    entries = 0
    try:
        compressor = zstandard.ZstdCompressor(level=3).compressobj()
        batch: list[bytes] = []
        for entry in walk(root, RECOVERY_ROOT, errors):
            entries += 1
            batch.append(entry.encode())
            if len(batch) >= 1024:
                writer.write(compressor.compress(b"".join(batch)))
                batch = []
        writer.write(compressor.compress(b"".join(batch)) + compressor.flush())
        if errors:
            writer.abort()  # a partial listing would make the old copy save too much
        else:
            writer.complete()
    except BaseException:
        writer.abort()
        raise
    finally:
        os.close(root)
    return MoverReport(kind="list", engine="worker", files=entries, bytes=writer.bytes_written,
                       skipped=0, errors=tuple(errors),
                       duration_seconds=time.monotonic() - started)


def _listing(s3: Any, place: S3Location) -> Iterator[Listed]:
    body = s3.get_object(Bucket=place.bucket, Key=place.key + LISTING)["Body"]
    try:
        with zstandard.ZstdDecompressor().stream_reader(body) as stream:
            yield from records(stream)
    finally:
        body.close()


# -- the old copy's differences, sent as a snapshot ----------------------------------------
def _send(job: SendJob, mount: Path, s3: Any) -> MoverReport:
    started = time.monotonic()
    place = where(job)
    errors: list[str] = []
    saved: list[SavedPath] = []
    compared = 0
    root = _open_root(mount)
    try:
        with tempfile.TemporaryFile() as names:  # the names for tar, on disk: any count

            def mine() -> Iterator[Listed]:
                nonlocal compared
                for entry in walk(root, RECOVERY_ROOT, errors):
                    compared += 1
                    yield entry

            emitted: list[tuple[bytes, ...]] = []  # the directories above, already named
            for found in differences(mine(), _listing(s3, place)):
                parts = found.entry.parts
                while emitted and emitted[-1] != parts[:len(emitted[-1])]:
                    emitted.pop()
                # Every directory above a saved entry goes in (no recursion: only it), so
                # the saved copy gets its owner, mode and times as a local save gives it.
                for depth in range(len(emitted[-1]) + 1 if emitted else 1, len(parts)):
                    names.write(b"./" + b"/".join(parts[:depth]) + b"\0")
                    emitted.append(parts[:depth])
                names.write(b"./" + found.entry.path + b"\0")
                path = os.fsdecode(found.entry.path)
                if found.entry.kind == "d":
                    emitted.append(parts)
                    saved.append(SavedPath(path + "/", found.reason))
                else:
                    saved.append(SavedPath(path, found.reason,
                                           found.entry.size if found.entry.kind == "f" else 0))
            names.flush()
            manifest = None
            if saved and not errors:
                names.seek(0)
                request = SnapshotRequest(
                    policy=POLICY, source_id=share_source(job.old_fs),
                    source=Source("share", job.old_fs, job.old_fs, "/", job.relay_region),
                    bucket=place.bucket, prefix=place.key.rstrip("/"),
                    stamp=stamp_of(time.time()), revision="")
                manifest = take_snapshot(s3, None, request, mount, names=names.fileno(),
                                         root_fd=root)
    finally:
        os.close(root)
    if not errors:
        sent = {"manifest": manifest.to_json() if manifest else None,
                "saved": [[e.path, e.reason, e.size] for e in saved], "compared": compared}
        s3.put_object(Bucket=place.bucket, Key=place.key + SENT,
                      Body=json.dumps(sent).encode(), ContentType="application/json")
    return MoverReport(
        kind="send", engine="worker", files=len(saved), bytes=sum(e.size for e in saved),
        skipped=compared - len(saved), errors=tuple(errors), saved=tuple(saved),
        compared=compared, duration_seconds=time.monotonic() - started,
        extra={"archive_bytes": manifest.bytes_out if manifest else 0})


# -- extracted into the recovery folder ------------------------------------------------------
def _receive(job: ReceiveJob, mount: Path, s3: Any) -> MoverReport:
    started = time.monotonic()
    place = where(job)
    sent = json.loads(s3.get_object(Bucket=place.bucket, Key=place.key + SENT)["Body"].read())
    saved = [SavedEntry(str(path), str(reason), int(size)) for path, reason, size in
             sent["saved"]]
    root = _open_root(mount)
    files = data = 0
    not_kept: list[str] = []
    try:
        try:
            recovery = open_recovery(root, job.folder)
        except SalvageRefused as error:
            raise RelayRefused(str(error)) from error
        try:
            if sent["manifest"]:
                manifest = Manifest.from_json(sent["manifest"])
                try:
                    restored = restore_snapshot(s3, None, manifest, recovery, OwnerPolicy(),
                                                mode=FILL_MISSING,
                                                set_owner=os.geteuid() == 0)
                except SnapshotRefused as error:
                    raise RelayRefused(str(error)) from error
                files, data = restored.files + restored.symlinks, restored.bytes
                not_kept = [f"{path}: {reason}" for path, reason in restored.skipped]
                not_kept += list(restored.notes)
            report = SalvageReport(f"/{RECOVERY_ROOT}/{job.folder}", saved=saved,
                                   compared=int(sent["compared"]))
            write_manifest(recovery, report)  # last: its presence means "saved"
        finally:
            os.close(recovery)
    finally:
        os.close(root)
    return MoverReport(kind="receive", engine="worker", files=files, bytes=data, skipped=0,
                       not_kept=tuple(not_kept), folder=report.folder,
                       duration_seconds=time.monotonic() - started)
