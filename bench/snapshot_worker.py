"""One measured operation of bench/snapshot.py, in a process of its own.

Run as `python bench/snapshot_worker.py OPERATION JSON-ARGS`; prints one JSON line with
the operation's wall time (from just before its first byte to its last, interpreter and
boto3 start-up excluded, the same for every operation), bytes moved, and the peak
resident memory: this process's high-water mark (VmHWM, which exec resets, unlike
getrusage's ru_maxrss that a forked child inherits from its parent) and the peak of the
sum over this process and its descendants (tar, zstd, pigz), sampled every 20 ms.
Every operation talks to the emulator through the same S3 client settings and, for
uploads, the product's MultipartWriter (8 MiB parts, four in flight), so what differs
between them is only what makes or reads the bytes.

Operations:
  ours-snapshot       the product: controller.snapshots.take_snapshot (GNU tar, the
                      zstandard library; encrypted when args.kms_key is set)
  ours-restore        the product: restore_snapshot (verified parts, the zstandard
                      library, the extractor)
  python-snapshot     candidate 2: Python tarfile + the zstandard library (threads=-1,
                      level 3), the same upload and manifest
  python-restore      candidate 2's archive restored by the product (the same verified
                      parts, the zstandard library, the extractor)
  cli-restore         the product's restore with `zstd -d` as a subprocess fed through
                      pipes instead of the zstandard library (the alternative measured)
  pipe-snapshot       a reference pipeline (args.pipeline, e.g. `tar -cf - -C SRC . |
                      pigz -6`) whose output is uploaded as it comes
  pipe-restore        a reference restore: the object streamed from S3 into args.pipeline
                      (e.g. `zstd -d | tar -x -C DST`)

This file is a benchmark harness, never imported by the product.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.snapshots.manifest import (  # noqa: E402
    Manifest,
    Source,
    composite_sha256,
    object_key,
)
from controller.snapshots.remap import OwnerPolicy  # noqa: E402
from controller.snapshots.restore import (  # noqa: E402
    RestoreProgress,
    _stored_chunks,
    restore_into,
    restore_snapshot,
)
from controller.snapshots.s3stream import MultipartWriter  # noqa: E402
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot  # noqa: E402

CLIENT = Config(retries={"mode": "standard", "total_max_attempts": 3},
                max_pool_connections=8)


def clients(endpoint: str) -> tuple[Any, Any]:
    return (boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, config=CLIENT),
            boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint, config=CLIENT))


def request(args: dict[str, Any]) -> SnapshotRequest:
    return SnapshotRequest(
        "bench", "home/bench/tree/home",
        Source("home", "bench-efs", "fs-bench", args["path"], "us-east-1", "bench/tree",
               "home", "bench"),
        args["bucket"], args["prefix"], args["stamp"], "bench", 3, args.get("kms_key"))


# -- the product --------------------------------------------------------------------------
def ours_snapshot(args: dict[str, Any]) -> dict[str, Any]:
    s3, kms = clients(args["endpoint"])
    manifest = take_snapshot(s3, kms, request(args), Path(args["mount"]))
    return {"bytes_in": manifest.bytes_in, "bytes_out": manifest.bytes_out,
            "manifest": manifest.to_json()}


def ours_restore(args: dict[str, Any]) -> dict[str, Any]:
    s3, kms = clients(args["endpoint"])
    manifest = Manifest.from_json(args["manifest"])
    fd = os.open(args["target"], os.O_RDONLY | os.O_DIRECTORY)
    try:
        report = restore_snapshot(s3, kms, manifest, fd, OwnerPolicy())
    finally:
        os.close(fd)
    return {"bytes_out": manifest.bytes_out, "placed_in": report.placed_in,
            "files": report.files}


# -- candidate 2: tarfile + zstandard ----------------------------------------------------
class _UploadSink:
    """A write()-able front of MultipartWriter for zstandard's stream_writer."""

    def __init__(self, writer: MultipartWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> int:
        self.writer.write(data)
        return len(data)

    def flush(self) -> None:
        pass


def python_snapshot(args: dict[str, Any]) -> dict[str, Any]:
    import zstandard

    from bench.snapshot_tarfile import write_tree

    s3, _ = clients(args["endpoint"])
    req = request(args)
    key = object_key(req.prefix, req.id, "archive.tar.zst")
    writer = MultipartWriter(s3, req.bucket, key)
    compressor = zstandard.ZstdCompressor(level=3, threads=-1)
    root = Path(args["mount"]) / args["path"].strip("/")
    with compressor.stream_writer(_UploadSink(writer), closefd=False) as stream:
        counted = write_tree(root, stream)
    parts = writer.complete()
    manifest = Manifest(
        id=req.id, policy=req.policy, source=req.source, created_at=time.time(),
        completed_at=time.time(), revision="bench", bucket=req.bucket, archive_key=key,
        compression="zstd", compression_level=3, parts=tuple(parts),
        sha256=composite_sha256([p.sha256 for p in parts]), bytes_in=counted,
        bytes_out=sum(p.size for p in parts), counts={}, uids=(), gids=())
    return {"bytes_in": counted, "bytes_out": manifest.bytes_out,
            "manifest": manifest.to_json()}


class _CliDecompressor:
    """`zstd -d` between a feeding thread and the reader of `stream` (measured beside the
    product's in-process zstandard decompression)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = chunks
        self._process = subprocess.Popen(["zstd", "-d", "-q", "-c"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)
        self.stream = self._process.stdout
        self.error: BaseException | None = None
        self._feeder = threading.Thread(target=self._feed, daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            for chunk in self._chunks:
                stdin.write(chunk)
        except BaseException as error:
            self.error = error
        finally:
            stdin.close()

    def close(self) -> None:
        assert self.stream is not None
        self.stream.read()
        self._process.wait()
        self._feeder.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        self._process.kill()
        self._process.wait()


def cli_restore(args: dict[str, Any]) -> dict[str, Any]:
    s3, kms = clients(args["endpoint"])
    manifest = Manifest.from_json(args["manifest"])
    fd = os.open(args["target"], os.O_RDONLY | os.O_DIRECTORY)
    try:
        report = restore_into(fd, lambda: _CliDecompressor(_stored_chunks(
            s3, kms, manifest, RestoreProgress(), lambda: False)), OwnerPolicy(),
            "newFolder", True)
    finally:
        os.close(fd)
    return {"bytes_out": manifest.bytes_out, "placed_in": report.placed_in,
            "files": report.files}


# -- the reference pipelines ---------------------------------------------------------------
def pipe_snapshot(args: dict[str, Any]) -> dict[str, Any]:
    s3, _ = clients(args["endpoint"])
    writer = MultipartWriter(s3, args["bucket"], args["key"])
    process = subprocess.Popen(["bash", "-o", "pipefail", "-c", args["pipeline"]],
                               stdout=subprocess.PIPE)
    assert process.stdout is not None
    while chunk := process.stdout.read1(1 << 20):  # type: ignore[attr-defined]
        writer.write(chunk)
    if process.wait() not in (0, 1):  # GNU tar's 1: a file changed while read
        writer.abort()
        raise RuntimeError(f"{args['pipeline']} exited {process.returncode}")
    parts = writer.complete()
    return {"bytes_out": sum(p.size for p in parts)}


def pipe_restore(args: dict[str, Any]) -> dict[str, Any]:
    s3, _ = clients(args["endpoint"])
    body = s3.get_object(Bucket=args["bucket"], Key=args["key"])["Body"]
    process = subprocess.Popen(["bash", "-o", "pipefail", "-c", args["pipeline"]],
                               stdin=subprocess.PIPE)
    assert process.stdin is not None
    moved = 0
    for chunk in body.iter_chunks(1 << 20):
        process.stdin.write(chunk)
        moved += len(chunk)
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"{args['pipeline']} exited {process.returncode}")
    return {"bytes_out": moved}


def archive_only(args: dict[str, Any]) -> dict[str, Any]:
    """The archive made and thrown away (no upload): what the archiver itself costs, with
    the product's part hashing; `pipeline` instead runs a reference into /dev/null."""
    import hashlib

    from controller.fs.safe_dirs import open_directory
    from controller.snapshots.archiver import ArchiveStats, create_stream

    if args.get("pipeline"):
        subprocess.run(["bash", "-o", "pipefail", "-c", args["pipeline"] + " > /dev/null"],
                       check=True)
        return {"bytes_out": 0}
    fd = open_directory(Path(args["mount"]), args["path"])
    moved = 0
    digest = hashlib.sha256()
    try:
        for chunk in create_stream(fd, 3, lambda: False, ArchiveStats()):
            digest.update(chunk)
            moved += len(chunk)
    finally:
        os.close(fd)
    return {"bytes_out": moved}


OPERATIONS = {"archive-only": archive_only,
              "ours-snapshot": ours_snapshot, "ours-restore": ours_restore,
              "python-snapshot": python_snapshot, "python-restore": ours_restore,
              "cli-restore": cli_restore,
              "pipe-snapshot": pipe_snapshot, "pipe-restore": pipe_restore}


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(p) for p in children.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


class PeakMemory:
    """The peak of (this process + its descendants) resident memory, sampled."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            total = _rss_kib(me) + sum(_rss_kib(pid) for pid in _descendants(me))
            self.peak_kib = max(self.peak_kib, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def main() -> None:
    operation, args = sys.argv[1], json.loads(sys.argv[2])
    memory = PeakMemory()
    started = time.perf_counter()
    out = OPERATIONS[operation](args)
    out["seconds"] = time.perf_counter() - started
    out["rss_peak_total_mib"] = memory.stop()
    out["rss_self_hwm_mib"] = _rss_kib(os.getpid(), "VmHWM") / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
