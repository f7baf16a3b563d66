"""The in-flight journal: which files a run was writing under their final names.

New files are written directly under their final name (one create instead of a create
plus a rename, which matters when every round trip costs a millisecond). A run killed
mid-file would leave a half-written file newer than the source, which the next run would
take for a user's edit (a conflict) and leave alone. So before creating files a run
notes their paths in its journal; the next run treats those paths as its own unfinished
work (copied again when not equal to the source, without a conflict). The journal lists
starts only: an entry equal to the source (size and mtime, set last) is complete.

Users can write in the target tree, so a journal is trusted only where they cannot
write: in the folder STATE_DIR at the target root, which the engine creates (its own
euid, 0700) and checks (a directory, not a link, its owner, no group/other bits) before
reading anything in it. A journal there is read only when it is a regular file of the
engine's euid, 0600, with one name, whose first line names the run in its file name.
Anything else with these names is an ordinary entry: copied, compared, never read,
never removed. Where that folder cannot be had (a user's entry holds its name) the run
keeps no journal and writes new files under a temporary name and renames them.

At most one journal per target: a run that needs one carries the unfinished paths of
earlier journals into its own and then removes them; a run that ends with errors leaves
one journal with only what is still unfinished; a clean run removes it and the folder.
This module must not touch anything in the target but STATE_DIR and what is in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import threading

STATE_DIR = ".studio-operator"
JOURNAL_PREFIX = "copy-inflight-"
HEADER = "studio-operator copy journal v1 run="
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_MAX_JOURNAL = 1 << 30  # bytes read from one journal at most


def is_state_folder(info: os.stat_result) -> bool:
    """The engine's own folder: a real directory of this euid that nobody else can use."""
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not stat.S_IMODE(info.st_mode) & 0o077)


class Journal:
    """One run's journal. `recovering`: the paths earlier runs left unfinished.

    `enabled`: new files may be created under their final names (noted first); else the
    caller writes them under a temporary name. `reserved`: the target root's STATE_DIR
    is the engine's folder, not an entry to copy onto or count.
    """

    def __init__(self, dst_root: int, target_has_folder: bool,
                 source_has_user_entry: bool) -> None:
        self._root = dst_root
        self._lock = threading.Lock()
        self._folder: int | None = None
        self._earlier: list[str] = []
        self.recovering: frozenset[str] = frozenset()
        self.reserved = False
        if target_has_folder:
            self._folder = _open_folder(dst_root)
            self.reserved = self._folder is not None
        if self._folder is not None:
            try:
                self._earlier, paths = _read_journals(self._folder)
            except OSError:
                # Unreadable: a file a killed run half wrote then counts as a newer target
                # file (a conflict, left alone), and no journal here is removed.
                self._earlier, paths = [], set()
            self.recovering = frozenset(paths)
        # A user's entry of that name in the source must land where our folder would.
        self.enabled = not source_has_user_entry and (self.reserved or not target_has_folder)
        # Noted or recovering, and not yet equal to the source: the walk discards paths
        # from it (set.discard is atomic) as they are done.
        self.pending: set[str] = set(self.recovering)
        self._run = secrets.token_hex(8)
        self.name: str | None = None  # made on the first note()
        self._fd: int | None = None
        self.made_folder = False  # this run created STATE_DIR (the root's mtime moved)
        self._closed = False

    def note(self, *rels: str) -> None:
        """Record that these paths may now be created under their final names."""
        data = "".join(json.dumps(path) + "\n" for path in rels).encode()
        self.pending.update(rels)
        fd = self._fd
        if fd is None:
            with self._lock:
                if self._closed or not self.enabled:
                    raise OSError("the in-flight journal is closed")
                if self._fd is None:
                    self._fd = self._start()
                fd = self._fd
        # No lock around the write: with O_APPEND the kernel appends each write whole
        # (writes to one file are serialized per inode), and a worker holding a lock
        # across a round trip would make all the others queue behind it.
        view = memoryview(data)
        while view:
            # A short write (a full disk) could let another worker's line in between;
            # the reader skips the lines that leaves undecodable.
            view = view[os.write(fd, view):]

    def _start(self) -> int:
        if self._folder is None:
            self._folder = _make_folder(self._root)
            self.made_folder = True
        name = f"{JOURNAL_PREFIX}{self._run}"
        fd = os.open(name, _OPEN_NEW, 0o600, dir_fd=self._folder)
        self.name = name
        # What earlier runs left unfinished (and this run has not finished yet) is carried
        # over first; then theirs can go. Membership tests only: workers change pending.
        unfinished = frozenset(path for path in self.recovering if path in self.pending)
        _write_all(fd, _journal_text(self._run, unfinished))
        os.fsync(fd)
        self._remove(self._earlier)
        self._earlier = []
        return fd

    def close(self, clean: bool) -> bool:
        """Close; a clean run removes the journals and the folder, a failed one leaves one
        journal with what is still unfinished. True when the root's mtime moved."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if self._folder is None:
            return False
        try:
            unfinished = frozenset() if clean else frozenset(self.pending)
            mine = [self.name] if self.name else []
            if not unfinished:
                self._remove(mine + self._earlier)
                with contextlib.suppress(OSError):  # not empty: something else is there
                    os.rmdir(STATE_DIR, dir_fd=self._root)
                    return True
                return self.made_folder
            if mine or self._earlier:
                self._rewrite(unfinished)
            return self.made_folder
        finally:
            os.close(self._folder)
            self._folder = None

    def _rewrite(self, paths: frozenset[str]) -> None:
        """Replace this run's journal (and earlier ones) by one with only `paths`."""
        assert self._folder is not None
        name = self.name or f"{JOURNAL_PREFIX}{self._run}"
        temporary = f".{name}.tmp"
        fd = os.open(temporary, _OPEN_NEW & ~os.O_APPEND, 0o600, dir_fd=self._folder)
        try:
            _write_all(fd, _journal_text(self._run, paths))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, name, src_dir_fd=self._folder, dst_dir_fd=self._folder)
        self._remove([old for old in self._earlier if old != name])
        self._earlier = []

    def _remove(self, names: list[str]) -> None:
        assert self._folder is not None
        for name in names:
            with contextlib.suppress(OSError):  # only journal files of the engine's folder
                os.unlink(name, dir_fd=self._folder)


def _journal_text(run: str, paths: frozenset[str]) -> bytes:
    lines = [HEADER + run] + [json.dumps(path) for path in sorted(paths)]
    return ("\n".join(lines) + "\n").encode()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _open_folder(root: int) -> int | None:
    """The engine's folder at the target root, or None when that name is someone else's."""
    try:
        fd = os.open(STATE_DIR, _OPEN_DIR, dir_fd=root)
    except OSError:
        return None  # a link, a file, a FIFO...: an ordinary entry
    if not is_state_folder(os.fstat(fd)):
        os.close(fd)
        return None
    return fd


def _make_folder(root: int) -> int:
    os.mkdir(STATE_DIR, 0o700, dir_fd=root)  # FileExistsError: made by someone meanwhile
    fd = _open_folder(root)
    if fd is None:
        raise OSError(f"{STATE_DIR} was replaced while being made")
    return fd


def _read_journals(folder: int) -> tuple[list[str], set[str]]:
    """(the journals found, the paths they list); anything not proven ours is skipped."""
    names: list[str] = []
    paths: set[str] = set()
    for name in os.listdir(folder):
        if not name.startswith(JOURNAL_PREFIX):
            continue
        listed = _read_journal(folder, name)
        if listed is not None:
            names.append(name)
            paths.update(listed)
    return names, paths


def _read_journal(folder: int, name: str) -> list[str] | None:
    try:
        fd = os.open(name, _OPEN_READ, dir_fd=folder)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
                and stat.S_IMODE(info.st_mode) == 0o600 and info.st_nlink == 1):
            return None
        chunks = []
        left = _MAX_JOURNAL
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = b"".join(chunks).decode(errors="replace").split("\n")
    if lines[0] != HEADER + name[len(JOURNAL_PREFIX):]:
        return None
    paths = []
    for line in lines[1:]:
        with contextlib.suppress(ValueError):
            path = json.loads(line)  # a line cut short by the crash is skipped
            if isinstance(path, str):
                paths.append(path)
    return paths
