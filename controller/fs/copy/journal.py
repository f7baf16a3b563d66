"""The in-flight journal: which files a run was writing under their final names.

New files are written directly under their final name (one create instead of a create
plus a rename, which matters when every round trip costs a millisecond). A run killed
mid-file would then leave a half-written file whose mtime is newer than the source, which
the next run would report as a conflict (a "newer user file") and leave alone. So before
creating a file a run appends its relative path to a small journal in the target root,
`.studio-copy-inflight-<host>-<pid>-<n>`. The next run reads every such journal and
treats those paths as its own unfinished work: if the target entry is not already equal
to the source it is copied again, without a conflict. The journal lists starts only: the
final utime is the last step of a copy, so an entry equal to the source (size and mtime)
is complete.

A run makes its journal only when it first needs it (a re-run with nothing to create
writes nothing into the target root), and removes it, with the journals of earlier runs,
only when it finishes without errors; otherwise all of them stay for the next run, which
reads them all. This module must not touch anything in the target other than journal
files.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading

PREFIX = ".studio-copy-inflight-"
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_counter = itertools.count()


def is_journal(name: str) -> bool:
    return name.startswith(PREFIX)


class Journal:
    """One run's journal; `recovering` holds the paths earlier runs left unfinished."""

    def __init__(self, dst_root: int, root_names: list[str]) -> None:
        self._root = dst_root
        self._lock = threading.Lock()
        self._earlier = [name for name in root_names if is_journal(name)]
        self.recovering: frozenset[str] = frozenset(_read_paths(dst_root, self._earlier))
        self.name: str | None = None  # made on the first note()
        self._fd: int | None = None
        self._closed = False

    @property
    def made(self) -> bool:
        """Whether this run created its journal file (which moved the root's mtime)."""
        return self.name is not None

    def note(self, *rels: str) -> None:
        """Record that these paths may now be created under their final names."""
        data = "".join(json.dumps(path) + "\n" for path in rels).encode()
        fd = self._fd
        if fd is None:
            with self._lock:
                if self._closed:
                    raise OSError("the in-flight journal is closed")
                if self._fd is None:
                    self._fd = self._create()
                fd = self._fd
        # No lock around the write: with O_APPEND the kernel appends each write whole
        # (writes to one file are serialized per inode), and a worker holding a lock
        # across a round trip would make all the others queue behind it.
        view = memoryview(data)
        while view:
            # A short write (a full disk) could let another worker's line in between;
            # the reader skips the lines that leaves undecodable.
            view = view[os.write(fd, view):]

    def _create(self) -> int:
        host = os.uname().nodename.replace("/", "_") or "host"
        while True:
            name = f"{PREFIX}{host}-{os.getpid()}-{next(_counter)}"
            try:
                fd = os.open(name, _OPEN_NEW, 0o600, dir_fd=self._root)
            except FileExistsError:
                continue
            self.name = name
            return fd

    def close(self, clean: bool) -> bool:
        """Close; after a clean run remove this run's and earlier runs' journals.

        Returns True when a journal file was removed (the root's mtime moved).
        """
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if not clean:
            return False
        removed = False
        for name in ([self.name] if self.name else []) + self._earlier:
            with contextlib.suppress(OSError):  # only journal files, never user entries
                os.unlink(name, dir_fd=self._root)
                removed = True
        return removed


def _read_paths(dst_root: int, names: list[str]) -> set[str]:
    paths: set[str] = set()
    for name in names:
        try:
            fd = os.open(name, _OPEN_READ, dir_fd=dst_root)
        except OSError:
            continue
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                path = json.loads(line)  # a line cut short by the crash is skipped
                if isinstance(path, str):
                    paths.add(path)
    return paths
