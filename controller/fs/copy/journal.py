"""The in-flight journal: which files a run was writing under their final names.

New files are written directly under their final name (one create instead of a create
plus a rename, which matters when every round trip costs a millisecond). A run killed
mid-file would then leave a half-written file whose mtime is newer than the source, which
the next run would report as a conflict (a "newer user file") and leave alone. So before
creating a file a run appends its relative path to a small journal in the target root,
`.studio-copy-inflight-<host>-<pid>-<n>`. The next run reads every such journal, carries
their paths into its own, and treats those paths as its own unfinished work: if the
target entry is not already equal to the source it is copied again, without a conflict.
A run that finishes without errors removes its journal; otherwise the journal stays for
the next run. The journal lists starts only: the final utime is the last step of a copy,
so an entry equal to the source (size and mtime) is complete. This module must not touch
anything in the target other than its own journal files.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
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
        old = [name for name in root_names if is_journal(name)]
        self.recovering: frozenset[str] = frozenset(_read_paths(dst_root, old))
        host = socket.gethostname().replace("/", "_") or "host"
        while True:
            self.name = f"{PREFIX}{host}-{os.getpid()}-{next(_counter)}"
            try:
                self._fd: int | None = os.open(self.name, _OPEN_NEW, 0o600, dir_fd=dst_root)
                break
            except FileExistsError:
                continue
        if self.recovering:
            # Carried into ours before the old ones go: a crash now loses nothing.
            self._write(sorted(self.recovering))
        for name in old:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dst_root)  # only journal files, never user entries

    def note(self, *rels: str) -> None:
        """Record that these paths may now be created under their final names."""
        self._write(list(rels))

    def _write(self, paths: list[str]) -> None:
        data = "".join(json.dumps(path) + "\n" for path in paths).encode()
        with self._lock:
            if self._fd is None:
                raise OSError("the in-flight journal is closed")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]

    def close(self, clean: bool) -> bool:
        """Close; remove the journal when the run left nothing unfinished (returns True)."""
        with self._lock:
            if self._fd is None:
                return False
            os.close(self._fd)
            self._fd = None
        if clean:
            try:
                os.unlink(self.name, dir_fd=self._root)
            except OSError:
                return False
        return clean


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
