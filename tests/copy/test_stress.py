"""Stress: the copy engine and the failback save against one hostile tree.

Deep nesting (3,000 levels, deeper than PATH_MAX), 200,000 entries in one directory,
sparse files (10 GiB with a few KiB of data), xattrs and POSIX ACLs (access and
default), hard links inside the tree and to a file outside it, symlinks (dangling,
absolute, relative), a FIFO, set-id and sticky modes, other owners, nanosecond mtimes,
and names with newlines, tabs, escapes, backslashes, bytes that are not UTF-8 and 255
bytes. Every property is checked by the snapshot below (descriptor-based: os.walk and
shared/tools/verify.py recurse per level and stop at PATH_MAX); verify.py is run too on
the parts it can read, when it is there. The tree lives on tmpfs (tests/scratch.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from controller.escaping import unescape
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.fs.copy import copy_tree
from controller.fs.salvage import save_unreplicated
from tests.copy.conftest import IS_ROOT, OLD_NS
from tests.fs.test_salvage_bounded import make_chain

pytestmark = pytest.mark.slow

TOOLS = Path(__file__).resolve().parents[3] / "shared" / "tools"
WIDE = 200_000
DEPTH = 3_000
GIB = 1 << 30
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
HOSTILE = ["new\nline", "tab\tand\rcr", "\x1b[31mred", "back\\slash", "-starts-with-dash",
           "rtl\u202efdp.exe", "...", " spaced ", "x" * 255,
           os.fsdecode(b"latin1-\xe9\xff"), "emoji-\U0001F600", "line\u2028sep"]


def make_tree(src: Path, outside: Path) -> None:
    src.mkdir()
    outside.mkdir()
    (src / "deep").mkdir()
    make_chain(src / "deep", DEPTH, file_every=500)
    wide = src / "wide"
    wide.mkdir()
    fd = os.open(wide, OPEN_DIR)
    try:
        for index in range(WIDE - 4_000):
            out = os.open(f"f{index:06d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                          dir_fd=fd)
            os.write(out, b"%d\n" % index)
            os.close(out)
        for index in range(2_000):
            os.symlink(f"f{index:06d}", f"s{index:06d}", dir_fd=fd)
            os.link(f"f{index:06d}", f"h{index:06d}", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
    sparse = src / "sparse"
    sparse.mkdir()
    with open(sparse / "ten-gib.img", "wb") as out:
        for offset in (0, 3 * GIB + 8192, 7 * GIB):
            out.seek(offset)
            out.write(os.urandom(4096))
        out.truncate(10 * GIB)
    with open(sparse / "hole-in-the-middle", "wb") as out:
        out.write(b"a" * 65536)
        out.seek(1 << 20)
        out.write(b"z" * 65536)
    attrs = src / "attrs"
    (attrs / "team").mkdir(parents=True)
    (attrs / "team/report.csv").write_text("a,b\n")
    os.setxattr(attrs / "team/report.csv", "user.origin", b"lab")
    subprocess.run(["setfacl", "-m", "u:4242:rw,g:4343:r", str(attrs / "team/report.csv")],
                   check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:4242:rwx", str(attrs / "team")], check=True)
    if IS_ROOT:
        os.setxattr(attrs / "team/report.csv", "trusted.reviewed", b"yes")
    links = src / "links"
    (links / "a").mkdir(parents=True)
    (links / "b").mkdir()
    (links / "a/shared").write_bytes(os.urandom(50_000))
    os.link(links / "a/shared", links / "b/shared-too")
    os.link(links / "a/shared", wide / "shared-in-wide")
    (outside / "kept-outside").write_text("also linked from inside the tree")
    os.link(outside / "kept-outside", links / "linked-to-outside")
    os.symlink("/etc/passwd", links / "absolute")
    os.symlink("nowhere/at/all", links / "dangling")
    os.mkfifo(links / "pipe")
    modes = src / "modes"
    modes.mkdir()
    for mode in (0o4755, 0o2750, 0o1777, 0o600) + ((0o000,) if IS_ROOT else ()):
        (modes / f"m{mode:o}").write_text(f"{mode:o}")
        os.chmod(modes / f"m{mode:o}", mode)
    (src / "names").mkdir()
    for name in HOSTILE:
        (src / "names" / name).write_text(f"name {name!r}\n")
    if IS_ROOT:
        for index, path in enumerate(sorted((src / "modes").iterdir())):
            os.chown(path, 200001 + index, 1001)
        os.chown(links / "absolute", 200009, 1009, follow_symlinks=False)
    stamp(src)


def stamp(root: Path) -> None:
    """Distinct nanosecond mtimes, children before their directory (descriptor walk)."""
    stack = [(os.open(root, OPEN_DIR), None)]
    index = 0
    while stack:
        fd, names = stack[-1]
        if names is None:
            names = sorted(os.listdir(fd))
            stack[-1] = (fd, names)
        if names:
            name = names.pop()
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                stack.append((os.open(name, OPEN_DIR, dir_fd=fd), None))
            else:
                index += 1
                ns = OLD_NS + index * 1_000_003
                os.utime(name, ns=(ns, ns), dir_fd=fd, follow_symlinks=False)
            continue
        stack.pop()
        index += 1
        os.utime(fd, ns=(OLD_NS - index, OLD_NS - index))
        os.close(fd)


def snapshot(root: Path, links_as_groups: bool = True) -> dict[str, tuple]:
    """Everything promised, per relative path (as bytes, so any name compares)."""
    seen: dict[str, tuple] = {}
    first_name: dict[int, str] = {}
    stack = [(os.open(root, OPEN_DIR), "")]
    try:
        while stack:
            fd, rel = stack.pop()
            try:
                for name in sorted(os.listdir(fd)):
                    path = f"{rel}/{name}" if rel else name
                    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    kind = stat.S_IFMT(info.st_mode)
                    extra: object = None
                    if stat.S_ISDIR(info.st_mode):
                        stack.append((os.open(name, OPEN_DIR, dir_fd=fd), path))
                    elif stat.S_ISLNK(info.st_mode):
                        extra = os.readlink(name, dir_fd=fd)
                    elif stat.S_ISREG(info.st_mode):
                        group = first_name.setdefault(info.st_ino, path)
                        extra = (content(fd, name, info),
                                 group if links_as_groups else None)
                    seen[path] = (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                                  info.st_mtime_ns, extra, xattrs_of(fd, name))
            finally:
                os.close(fd)
    finally:
        for fd, _ in stack:
            os.close(fd)
    return seen


def content(dir_fd: int, name: str, info: os.stat_result) -> tuple:
    """A digest of the bytes; for a sparse file its data ranges and their bytes only."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    digest = hashlib.blake2b()
    ranges = []
    try:
        if info.st_blocks * 512 < info.st_size:
            offset = 0
            while offset < info.st_size:
                try:
                    start = os.lseek(fd, offset, os.SEEK_DATA)
                except OSError:
                    break
                offset = os.lseek(fd, start, os.SEEK_HOLE)
                ranges.append((start, offset))
                digest.update(os.pread(fd, offset - start, start))
        else:
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
    finally:
        os.close(fd)
    allocated_small = info.st_blocks * 512 < 1 << 20 if ranges else None
    return info.st_size, digest.hexdigest(), tuple(ranges), allocated_small


def xattrs_of(dir_fd: int, name: str) -> tuple:
    path = f"/proc/self/fd/{dir_fd}/{name}"
    names = sorted(os.listxattr(path, follow_symlinks=False))
    return tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in names)


def test_the_copy_engine_and_the_save_keep_everything_of_a_hostile_tree(scratch):
    src, outside = scratch / "src", scratch / "outside"
    make_tree(src, outside)
    expected = snapshot(src)
    assert len([p for p in expected if p.startswith("wide/")]) == WIDE + 1

    dst = scratch / "dst"
    report = copy_tree(src, dst, workers=8)
    assert report.ok and report.not_kept == (), (report.errors[:3], report.not_kept[:3])
    assert report.hard_links_made == 2_000 + 2  # wide's h*, and the 3-name group
    copied = snapshot(dst)
    assert copied == expected
    assert (outside / "kept-outside").stat().st_nlink == 2  # its inside twin is no link
    assert os.lstat(dst / "links/linked-to-outside").st_nlink == 1
    assert os.lstat(dst / "links/a/shared").st_nlink == 3
    assert os.lstat(dst / "sparse/ten-gib.img").st_blocks * 512 < 1 << 20
    if (TOOLS / "verify.py").exists():
        for part in ("wide", "links", "modes", "names", "attrs"):
            verify = subprocess.run([sys.executable, str(TOOLS / "verify.py"),
                                     str(src / part), str(dst / part), "--content"],
                                    capture_output=True, text=True)
            assert verify.returncode == 0, verify.stdout[-2000:]

    again = copy_tree(src, dst, workers=8)
    assert again.ok and (again.files_copied, again.metadata_fixed, again.hard_links_made) == (
        0, 0, 0)
    assert snapshot(dst) == expected

    # A user hard-links someone else's file (same size and mtime) in place of a copy whose
    # mode then changes in the source: the copy replaces the name, never fixes that inode.
    victim = outside / "teammate.csv"
    victim.write_bytes((dst / "wide/f000007").read_bytes())
    os.chmod(victim, 0o660)
    os.utime(victim, ns=(os.lstat(dst / "wide/f000007").st_mtime_ns,) * 2)
    os.unlink(dst / "wide/f000007")
    os.link(victim, dst / "wide/f000007")
    os.chmod(src / "wide/f000007", 0o4777)
    fixed = copy_tree(src, dst, workers=8)
    assert fixed.ok and fixed.files_copied == 1
    assert stat.S_IMODE(victim.stat().st_mode) == 0o660 and victim.stat().st_nlink == 1
    assert stat.S_IMODE(os.lstat(dst / "wide/f000007").st_mode) == 0o4777
    os.chmod(src / "wide/f000007", 0o644)
    assert copy_tree(src, dst, workers=8).ok and snapshot(dst) == expected

    # The save: everything is missing from an empty active copy, so everything is saved
    # (hard links as separate files), each listed once, escaped, one line per entry.
    active = scratch / "active"
    active.mkdir()
    saved = save_unreplicated(src, active, "F")
    assert saved.errors == [] and saved.not_kept == []
    folder = active / RECOVERY_ROOT / "F"
    in_folder = snapshot(folder, links_as_groups=False)
    del in_folder[RECOVERY_MANIFEST]
    assert in_folder == {path: (*entry[:5], (entry[5][0], None), entry[6])
                         if entry[0] == stat.S_IFREG else entry
                         for path, entry in expected.items()}
    rows = [line.split("\t") for line in (folder / RECOVERY_MANIFEST).read_text().split("\n")
            if line and not line.startswith("#")]
    assert all(len(row) == 3 for row in rows) and len(rows) == len(saved.saved)
    directories = {path for path, entry in expected.items() if entry[0] == stat.S_IFDIR}
    assert {unescape(path) for _, _, path in rows} == {
        path + "/" if path in directories else path for path in expected}
