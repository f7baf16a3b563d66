"""Make one folder tree an exact copy of another: what EFS replication does to the replica.

Used by the emulator's background replicator on efs_root/<source>/ -> efs_root/<dest>/.
It copies only what differs (size, mtime, type), keeps modes, owners (when running as
root), mtimes, symlinks and hard links, and removes what the source no longer has, so a
replica written to by mistake is put back the way EFS would. Files that vanish while a
pass runs are skipped: the next pass catches up. This module must not know about AWS;
it must never follow a symlink, nor touch anything outside the destination tree.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass
class MirrorStats:
    files_copied: int = 0
    bytes_copied: int = 0
    entries_removed: int = 0


def mirror_tree(source: Path, destination: Path) -> MirrorStats:
    stats = MirrorStats()
    destination.mkdir(parents=True, exist_ok=True)
    links: dict[tuple[int, int], Path] = {}
    _mirror_dir(source, destination, stats, links)
    _copy_metadata(os.lstat(source), destination)
    return stats


def _mirror_dir(
    source: Path, destination: Path, stats: MirrorStats, links: dict[tuple[int, int], Path]
) -> None:
    try:
        entries = {e.name: e for e in os.scandir(source)}
    except FileNotFoundError:
        return
    for name in os.listdir(destination):
        if name not in entries:
            _remove(destination / name)
            stats.entries_removed += 1
    for name, entry in sorted(entries.items()):
        try:
            _mirror_entry(entry, destination / name, stats, links)
        except FileNotFoundError:
            continue  # changed under us; the next pass sees the new state


def _mirror_entry(
    entry: os.DirEntry[str], target: Path, stats: MirrorStats, links: dict[tuple[int, int], Path]
) -> None:
    info = entry.stat(follow_symlinks=False)
    existing = _lstat(target)
    if stat.S_ISDIR(info.st_mode):
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            _remove(target)
            existing = None
        if existing is None:
            target.mkdir()
        _mirror_dir(Path(entry.path), target, stats, links)
        _copy_metadata(info, target)
    elif stat.S_ISLNK(info.st_mode):
        link = os.readlink(entry.path)
        if existing is not None and not (
            stat.S_ISLNK(existing.st_mode) and os.readlink(target) == link
        ):
            _remove(target)
            existing = None
        if existing is None:
            os.symlink(link, target)
        _copy_metadata(info, target)
    elif stat.S_ISREG(info.st_mode):
        _mirror_file(entry, info, target, existing, stats, links)


def _mirror_file(
    entry: os.DirEntry[str],
    info: os.stat_result,
    target: Path,
    existing: os.stat_result | None,
    stats: MirrorStats,
    links: dict[tuple[int, int], Path],
) -> None:
    identity = (info.st_dev, info.st_ino)
    first = links.get(identity) if info.st_nlink > 1 else None
    if first is not None:  # another name of a file already mirrored in this pass
        first_info = os.lstat(first)
        if existing is None or (existing.st_dev, existing.st_ino) != (
            first_info.st_dev,
            first_info.st_ino,
        ):
            if existing is not None:
                _remove(target)
            os.link(first, target)
        return
    if info.st_nlink > 1:
        links[identity] = target
    same = (
        existing is not None
        and stat.S_ISREG(existing.st_mode)
        and existing.st_size == info.st_size
        and existing.st_mtime_ns == info.st_mtime_ns
    )
    if not same:
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            _remove(target)
        staging = target.with_name(f".{target.name}.replicating")
        shutil.copyfile(entry.path, staging, follow_symlinks=False)
        os.replace(staging, target)  # readers see the old or the new file, never half of it
        stats.files_copied += 1
        stats.bytes_copied += info.st_size
    _copy_metadata(info, target)


def move_unmatched(source: Path, destination: Path, folder_name: str) -> int:
    """Move what `destination` holds beyond `source` into destination/folder_name/.

    What EFS does with data it finds on a replica when the replication is deleted: it
    is put in a lost+found folder at the root, never thrown away. Entries are renamed
    (same file system), keeping their relative paths; returns how many were moved.
    """
    moved = 0
    folder = destination / folder_name
    pending = [Path()]
    while pending:
        relative = pending.pop()
        try:
            names = sorted(os.listdir(destination / relative))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if relative == Path() and name == folder_name:
                continue
            here = relative / name
            mine = _lstat(destination / here)
            theirs = _lstat(source / here)
            if mine is None:
                continue
            if theirs is None:
                (folder / relative).mkdir(parents=True, exist_ok=True)
                os.rename(destination / here, folder / here)
                moved += 1
            elif stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(theirs.st_mode):
                pending.append(here)
    return moved


def _copy_metadata(info: os.stat_result, target: Path) -> None:
    is_link = stat.S_ISLNK(info.st_mode)
    if os.geteuid() == 0:
        os.lchown(target, info.st_uid, info.st_gid)
    if not is_link:
        os.chmod(target, stat.S_IMODE(info.st_mode))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: Path) -> None:
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()
