"""An open file's identity and version (device, inode, size, mtime), asked without its atime.

After a file has been read, Linux's NFS and FUSE clients mark its atime stale, so the
next fstat (which asks for every attribute) costs a GETATTR round trip to the server:
the copy's check that a source did not change while it was copied would pay one per
file on EFS. statx with only the attributes wanted is answered from the attribute cache
as the stat before the copy was, so the check is as good and costs no round trip. Where
statx is missing (another libc or kernel) or leaves an attribute out, fstat answers.
This module reads attributes of descriptors it is given; it must not open or change
anything.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
import threading
from collections.abc import Callable
from typing import NamedTuple

_AT_EMPTY_PATH = 0x1000
_STATX_MTIME, _STATX_INO, _STATX_SIZE = 0x40, 0x100, 0x200
_WANTED = _STATX_MTIME | _STATX_INO | _STATX_SIZE
_STATX_SIZE_BYTES = 256
# struct statx: stx_mask at 0, stx_ino and stx_size at 32, stx_mtime (s64 seconds, u32
# nanoseconds) at 112, stx_dev_major and stx_dev_minor at 136.
_MASK, _INO_SIZE, _MTIME, _DEV = (struct.Struct(f) for f in ("=I", "=QQ", "=qI", "=II"))


class Identity(NamedTuple):
    dev: int
    ino: int
    size: int
    mtime_ns: int


def _bind_statx() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).statx  # glibc 2.28 and later
    except (AttributeError, OSError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                         ctypes.c_char_p)
    function.restype = ctypes.c_int
    return function


_statx = _bind_statx()
_buffers = threading.local()  # one buffer per worker thread, reused


def identity(fd: int, remote: bool = True) -> Identity:
    """Device, inode, size and mtime of the open file `fd`; raises OSError like fstat.

    `remote`: the file is on a network file system, where statx saves a round trip; on a
    local one fstat answers from memory and costs less than a statx through ctypes.
    """
    if remote and _statx is not None:
        buffer = getattr(_buffers, "buffer", None)
        if buffer is None:
            buffer = _buffers.buffer = ctypes.create_string_buffer(_STATX_SIZE_BYTES)
        if _statx(fd, b"", _AT_EMPTY_PATH, _WANTED, buffer) == 0:
            raw = buffer.raw
            if _MASK.unpack_from(raw)[0] & _WANTED == _WANTED:
                ino, size = _INO_SIZE.unpack_from(raw, 32)
                seconds, nanoseconds = _MTIME.unpack_from(raw, 112)
                major, minor = _DEV.unpack_from(raw, 136)
                return Identity(os.makedev(major, minor), ino, size,
                                seconds * 1_000_000_000 + nanoseconds)
    info = os.fstat(fd)
    return Identity(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
