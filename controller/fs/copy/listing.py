"""Read a directory's entries (names and whether each is a directory) in few system calls.

CPython's os.scandir and os.listdir let go of the GIL and take it back for every single
entry. With more copy workers than cores that handover, not the listing, is the cost:
each one can wake another thread. So with `batched`, Linux's getdents64 fills a 64 KiB
buffer per call (one handover per call, usually one per directory) and the buffer is
parsed in Python; with few threads os.scandir is the cheaper of the two, and it is also
used where getdents64 is not available (another libc or system).

This module only reads directories through descriptors it is given; it must not open,
follow or change anything.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
import sys
import threading
from collections.abc import Callable

_BUFFER = 1 << 16
_DT_UNKNOWN, _DT_DIR = 0, 4
# struct linux_dirent64: d_ino u64, d_off s64, then these two, then the NUL-ended d_name.
_RECLEN_AND_TYPE = struct.Struct("=HB")
_HEAD_AT, _NAME_AT = 16, 19
_ENCODING, _ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _bind_getdents() -> Callable[[int, ctypes.Array[ctypes.c_char], int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).getdents64  # glibc 2.30 and later
    except (AttributeError, OSError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
    function.restype = ctypes.c_ssize_t
    return function


_getdents = _bind_getdents()
_buffers = threading.local()  # one buffer per worker thread, reused


def read_entries(dir_fd: int, batched: bool = True) -> tuple[list[str], list[str]]:
    """(subdirectory names, other names) of the directory open as `dir_fd`.

    Reads from the descriptor's current offset, so give it a descriptor not read before.
    Links count as "other" (never followed); "." and ".." are left out. `batched`: one
    GIL handover per buffer of entries rather than per entry (see the module's doc).
    """
    if _getdents is None or not batched:
        return _read_with_scandir(dir_fd)
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = ctypes.create_string_buffer(_BUFFER)
    dirs: list[str] = []
    others: list[str] = []
    head = _RECLEN_AND_TYPE.unpack_from
    while True:
        filled = _getdents(dir_fd, buffer, _BUFFER)
        if filled <= 0:
            if filled < 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
            return dirs, others
        raw = ctypes.string_at(buffer, filled)
        end_of_name = raw.index
        at = 0
        while at < filled:
            length, kind = head(raw, at + _HEAD_AT)
            encoded = raw[at + _NAME_AT:end_of_name(b"\0", at + _NAME_AT)]
            at += length
            if encoded == b"." or encoded == b"..":
                continue
            name = encoded.decode(_ENCODING, _ERRORS)  # as os.fsdecode
            if kind == _DT_UNKNOWN:  # some file systems leave the type to a stat
                kind = _DT_DIR if _is_dir(dir_fd, name) else -1
            (dirs if kind == _DT_DIR else others).append(name)


def _is_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False  # gone already: copying it will say so


def _read_with_scandir(dir_fd: int) -> tuple[list[str], list[str]]:
    dirs: list[str] = []
    others: list[str] = []
    with os.scandir(dir_fd) as listing:
        for entry in listing:
            (dirs if entry.is_dir(follow_symlinks=False) else others).append(entry.name)
    return dirs, others
