"""The archiver: GNU tar makes archives, the zstandard library compresses and reads them.

Creating: `tar --format=posix` (nanosecond mtimes, owners by number, hard links as
links, symlinks as links, empty directories, sparse files as GNU sparse 1.0, user.*
xattrs and POSIX ACLs) piped into this process, where the zstandard library compresses
it on zstd's own worker threads (as `zstd -T<n>` would, checksum included: any zstd
reads it back). A `zstd` subprocess between them cost a second pipe and its copies,
and the library's newer zstd is leaner: the benchmark tree's archive took about 1 CPU-
second less (tar, zstd and this process together). tar is pointed at the source through
/proc/self/fd/N of a directory fd the caller opened without following links, so a link
swapped in on the way is never followed; tar itself opens what it archives with
O_NOFOLLOW and never crosses into another file system (--one-file-system). Its verbose
index (names escaped by tar, one per line) goes to a pipe of its own and gives the
manifest its counts and uid/gid set.

Decompressing (restores): the zstandard library in this process, pulling the verified
(and decrypted) stored bytes as the extractor reads; a checksum failure is reported as
such, not as "truncated tar". bench/snapshot.py measured both archivers: GNU tar makes
the archive (Python's tarfile cannot write sparse files, and was slower), and the
library decompresses faster than a `zstd -d` subprocess fed through pipes.
This module must not talk to S3 or decide what is safe to extract.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import zstandard

READ_SIZE = 1 << 20
# zstd's multithreaded job size, and how much of tar's output it is handed at a time: in
# this process, 4 MiB jobs fed 1 MiB at a time held 68 MiB on the 1 GiB benchmark tree (2
# workers), 2 MiB jobs fed 128 KiB at a time 27 MiB, for no measurable time (the
# command line's default 8 MiB jobs held 80 MB).
ZSTD_JOB = 2 << 20
ZSTD_FEED = 128 << 10
TAR_OPTIONS = ("--create", "--file=-", "--format=posix", "--numeric-owner", "--xattrs",
               "--xattrs-include=user.*", "--acls", "--sparse", "--one-file-system",
               "--pax-option=delete=atime,delete=ctime", "--totals", "--verbose",
               "--verbose",  # twice: the index lists type, owner, size per entry
               # 128 KiB records, not 10 KiB: tar's CPU time on the 1 GiB benchmark tree
               # fell from about 1.1 s to 0.7 s (fewer reads and writes); the end of the
               # archive is padded with zeros to a record, which zstd makes nothing of.
               "--blocking-factor=256")
_TOTAL = re.compile(rb"Total bytes written: (\d+)")
_KINDS = {ord("-"): "files", ord("d"): "directories", ord("l"): "symlinks",
          ord("h"): "hard_links"}


class ArchiverError(Exception):
    """tar or zstd failed; the message carries what they said."""


@dataclass
class ArchiveStats:
    counts: dict[str, int] = field(default_factory=lambda: {
        "files": 0, "directories": 0, "symlinks": 0, "hard_links": 0, "other": 0})
    uids: set[int] = field(default_factory=set)
    gids: set[int] = field(default_factory=set)
    bytes_in: int = 0
    warnings: list[str] = field(default_factory=list)


def _count_index(stream: IO[bytes], stats: ArchiveStats) -> None:
    for line in stream:
        if not line.strip():
            continue
        stats.counts[_KINDS.get(line[0], "other")] += 1
        fields = line.split(None, 2)
        if len(fields) >= 2 and b"/" in fields[1]:
            uid, _, gid = fields[1].partition(b"/")
            if uid.isdigit() and gid.isdigit():
                stats.uids.add(int(uid))
                stats.gids.add(int(gid))


def create_stream(source_fd: int, level: int | None, cancelled: Callable[[], bool],
                  stats: ArchiveStats, threads: int = 0,
                  names: int | None = None) -> Generator[bytes, None, None]:
    """Yield the zstd-compressed tar stream of the directory `source_fd` (level None: the
    plain tar stream, for a restore from a live home). `threads`: zstd's workers (0: one
    per CPU this process may use). `stats` fills in as tar goes (counts, uid/gid set)
    and gets tar's byte count at the end. `names`: an fd of a NUL-separated list of
    `./relative` names: only those entries, each without what is below it (a
    listing-filtered source: controller.movers.relay)."""
    index_read, index_write = os.pipe()
    chosen = ["--no-recursion", "--null", "--verbatim-files-from",
              f"--files-from=/dev/fd/{names}"] if names is not None else ["."]
    tar_cmd = ["tar", *TAR_OPTIONS, f"--index-file=/dev/fd/{index_write}",
               f"--directory=/proc/self/fd/{source_fd}", *chosen]
    passed = (index_write, source_fd) if names is None else (index_write, source_fd, names)
    tar = subprocess.Popen(tar_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, pass_fds=passed,
                           env={**os.environ, "LC_ALL": "C"})
    _widen(tar.stdout)
    os.close(index_write)
    assert tar.stdout is not None and tar.stderr is not None
    compressor = _compressor(level, threads) if level is not None else None
    index = os.fdopen(index_read, "rb")
    stderr: list[bytes] = []
    counter = threading.Thread(target=_count_index, args=(index, stats), daemon=True)
    drainer = threading.Thread(target=lambda: stderr.append(tar.stderr.read()),  # type: ignore[union-attr]
                               daemon=True)
    counter.start()
    drainer.start()
    finished = False
    try:
        while chunk := tar.stdout.read1(READ_SIZE):  # type: ignore[attr-defined]
            if cancelled():
                raise _Stop()
            if compressor is None:
                yield chunk
                continue
            # zstd's workers compress on threads of their own (no GIL held); each call
            # hands them a slice and returns what jobs have finished, often nothing.
            with memoryview(chunk) as view:
                for start in range(0, len(view), ZSTD_FEED):
                    out = compressor.compress(view[start:start + ZSTD_FEED])
                    if out:
                        yield out
        if compressor is not None:
            yield compressor.flush()
        finished = True
    except _Stop:
        pass
    except zstandard.ZstdError as error:
        raise ArchiverError(f"zstd failed: {error}") from error
    finally:
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                tar.kill()
        tar.stdout.close()
        tar_code = tar.wait()
        drainer.join()
        counter.join()
        index.close()
    if not finished:
        from controller.snapshots.s3stream import Cancelled
        raise Cancelled("stopped while archiving")
    said = b"".join(stderr)
    if tar_code not in (0, 1):
        message = said.decode("utf-8", "replace").strip()[-2000:]
        raise ArchiverError(f"tar exited {tar_code}: {message}".strip())
    total = _TOTAL.search(said)
    stats.bytes_in = int(total.group(1)) if total else 0
    stats.warnings = [line for line in said.decode("utf-8", "replace").splitlines()
                      if line and not line.startswith("Total bytes")][:20]


def _compressor(level: int, threads: int) -> Any:
    """zstd at `level` as the command line makes it (a content checksum in the frame), in
    ZSTD_JOB-sized jobs on `threads` workers."""
    workers = threads or len(os.sched_getaffinity(0))
    parameters = zstandard.ZstdCompressionParameters.from_level(
        level, threads=workers, job_size=ZSTD_JOB, write_checksum=1)
    return zstandard.ZstdCompressor(compression_params=parameters).compressobj()


def _widen(pipe: IO[bytes] | None) -> None:
    """Let tar's pipe hold READ_SIZE bytes: with Linux's 64 KiB default, the writer and
    the reader woke each other for every 64 KiB (measured when a zstd process sat
    between tar and this one: about 11,000 reads of the 1 GiB tree's archive instead of
    3,000, and 3 to 4 times the context switches). A system that refuses (a
    pipe-max-size below it) keeps the default."""
    if pipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, READ_SIZE)


class _Stop(Exception):  # noqa: N818
    pass


class Decompressor:
    """The stored zstd stream decompressed in this process by the zstandard library (the
    benchmark measured it faster than a `zstd -d` subprocess fed through pipes), on a
    thread of its own a few chunks ahead of the extractor, which reads `stream`. The
    verified (and decrypted) chunks are pulled as it goes: a checksum failure surfaces
    from `stream.read()` as itself."""

    AHEAD = 4

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._source = _ChunkReader(chunks)
        reader = zstandard.ZstdDecompressor().stream_reader
        # A read() method is all stream_reader needs of its source.
        self._reader = reader(self._source,  # type: ignore[arg-type]
                              read_size=READ_SIZE, read_across_frames=True)
        self._ready: queue.Queue[bytes | BaseException | None] = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self.stream: IO[bytes] = _ChunkReader(self._plain())  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._run, name="zstd-decompress",
                                        daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._ready.put(item, timeout=0.1)
                return True
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._reader.read(READ_SIZE)
                if not data:
                    # The compressed stream ended: whatever follows must still verify,
                    # and nothing may follow it.
                    self._source.drain()
                    self._put(None)
                    return
                if not self._put(data):
                    return
        except zstandard.ZstdError as error:
            self._put(ArchiverError(f"the compressed stream is damaged: {error}"))
        except BaseException as error:  # handed to the reader, who raises it
            self._put(error)
        finally:
            if self._stop.is_set():
                self._source.stop()

    def _plain(self) -> Iterator[bytes]:
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Read to the end: every stored part is verified, and nothing may follow the
        compressed stream; raises what the source or the decompressor found."""
        while self.stream.read(READ_SIZE):
            pass
        self._thread.join()

    def abort(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._ready.get_nowait()  # a decompressor waiting for room goes on


class _ChunkReader:
    """A read()-able view of an iterable of chunks (one buffer and an offset into it)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = next(self._chunks, b""), 0
        end = len(self._buffer) if size < 0 else self._offset + size
        data = self._buffer[self._offset:end]
        self._offset += len(data)
        return data

    def drain(self) -> None:
        for _ in self._chunks:
            pass

    def stop(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
