"""Copy a regular file's bytes from one open descriptor to another, in the kernel if it can.

copy_file_range, then sendfile, then Python reads and writes. Which one works is decided
per file: an odd file (a FIFO swapped in for a regular file answers EINVAL) must not
turn the kernel's paths off for every later copy of a long-running controller. Only
ENOSYS (the kernel lacks the call) is remembered for the process.

A file with fewer blocks than its size has holes: only its data ranges (SEEK_DATA /
SEEK_HOLE) are copied, at their offsets, and the size set last, so a 10 GiB file with
8 KiB of data takes 8 KiB in the target too. This module must not open, stat or name
anything: it is given two open descriptors (the target new and empty).
"""

from __future__ import annotations

import errno
import os

_COPY_CHUNK = 1 << 30
_READ_CHUNK = 1 << 20
# The call cannot copy this pair of files (another file system, not a regular file...):
# try the next way for this file only.
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTSUP}
# Kernel paths this kernel does not have at all (ENOSYS): not tried again.
_missing: set[str] = set() if hasattr(os, "copy_file_range") else {"copy_file_range"}


def may_have_holes(info: os.stat_result) -> bool:
    """Fewer 512-byte blocks than the size needs: worth asking where the data is."""
    return info.st_size > 0 and info.st_blocks * 512 < info.st_size


def copy_bytes(source: int, target: int, size: int = -1, sparse: bool = False) -> int:
    """Copy the file; returns its size as copied (holes count, as in st_size).

    `size`, the size the source was seen with: the copy stops once that much is copied
    (no extra call to find the end). A source that grew meanwhile is caught by the
    caller, which compares the source's size after the copy. `sparse`: the source may
    have holes (see may_have_holes); they are kept.
    """
    if sparse and size > 0:
        try:
            return _copy_data_ranges(source, target, size)
        except _NoHoleSupport:
            pass  # this file cannot say where its data is: copied whole
    return _copy_range(source, target, None, size)


class _NoHoleSupport(Exception):
    """SEEK_DATA/SEEK_HOLE are not available for this file."""


def _copy_data_ranges(source: int, target: int, size: int) -> int:
    offset = 0
    while offset < size:
        try:
            start = os.lseek(source, offset, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:
                break  # only a hole after offset
            if offset == 0 and error.errno in (errno.EINVAL, errno.ESPIPE,
                                               errno.EOPNOTSUPP):
                raise _NoHoleSupport from error
            raise
        if start >= size:
            break
        end = min(os.lseek(source, start, os.SEEK_HOLE), size)
        copied = _copy_range(source, target, start, end - start)
        offset = start + copied
        if copied < end - start:  # the source shrank meanwhile: the caller sees it
            return offset
    os.ftruncate(target, size)  # the holes after the last data, and the size
    return size


def _copy_range(source: int, target: int, start: int | None, length: int) -> int:
    """Copy `length` bytes (-1: to the end) at offset `start` of the source to the same
    offset of the target; `start` None: from both descriptors' positions (which also
    works for a pipe: the caller then sees that it was no regular file)."""
    total = 0

    def at() -> int | None:
        return None if start is None else start + total
    if "copy_file_range" not in _missing:
        try:
            while total != length and (count := os.copy_file_range(
                    source, target, _chunk(length, total), at(), at())):
                total += count
            return total
        except OSError as error:
            _unsupported("copy_file_range", error, total)
    if "sendfile" not in _missing:
        try:
            if start is not None:
                os.lseek(target, start, os.SEEK_SET)
            while total != length and (count := os.sendfile(
                    target, source, at(), _chunk(length, total))):
                total += count
            return total
        except OSError as error:
            _unsupported("sendfile", error, total)
    while total != length and (chunk := _read(source, _chunk(length, total), at())):
        view = memoryview(chunk)
        while view:
            written = os.write(target, view) if start is None else os.pwrite(
                target, view, start + total)
            total += written
            view = view[written:]
    return total


def _read(source: int, wanted: int, offset: int | None) -> bytes:
    count = min(_READ_CHUNK, wanted)
    return os.read(source, count) if offset is None else os.pread(source, count, offset)


def _chunk(length: int, done: int) -> int:
    return _COPY_CHUNK if length < 0 else min(_COPY_CHUNK, length - done)


def _unsupported(call: str, error: OSError, copied: int) -> None:
    """Re-raise a real failure; note a call the kernel lacks; else try the next way."""
    if copied or error.errno not in _UNSUPPORTED:
        raise error
    if error.errno == errno.ENOSYS:
        _missing.add(call)
