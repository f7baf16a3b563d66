"""Copy a regular file's bytes from one open descriptor to another, in the kernel if it can.

copy_file_range, then sendfile, then Python reads and writes. Which one works is decided
per file: an odd file (a FIFO swapped in for a regular file answers EINVAL) must not
turn the kernel's paths off for every later copy of a long-running controller. Only
ENOSYS (the kernel lacks the call) is remembered for the process. This module must not
open, stat or name anything: it is given two open descriptors.
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


def copy_bytes(source: int, target: int, size: int = -1) -> int:
    """Copy in the kernel where it can (no bytes through Python), else read/write.

    `size`, the size the source was seen with: the copy stops once that much is copied
    (no extra call to find the end). A source that grew meanwhile is caught by the
    caller, which compares the source's size after the copy.
    """
    total = 0
    if "copy_file_range" not in _missing:
        try:
            while total != size and (count := os.copy_file_range(source, target,
                                                                  _COPY_CHUNK)):
                total += count
            return total
        except OSError as error:
            _unsupported("copy_file_range", error, total)
    if "sendfile" not in _missing:
        try:
            while total != size and (count := os.sendfile(target, source, None,
                                                          _COPY_CHUNK)):
                total += count
            return total
        except OSError as error:
            _unsupported("sendfile", error, total)
    while chunk := os.read(source, _READ_CHUNK):
        total += os.write(target, chunk)
    return total


def _unsupported(call: str, error: OSError, copied: int) -> None:
    """Re-raise a real failure; note a call the kernel lacks; else try the next way."""
    if copied or error.errno not in _UNSUPPORTED:
        raise error
    if error.errno == errno.ENOSYS:
        _missing.add(call)
