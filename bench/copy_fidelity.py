"""What the copy engine keeps, measured: one entry per property, copied and compared.

Builds a small tree on the file system of --dir (default /tmp: the machine's ext4), with
one case per property, copies it with the engine as the product runs it (as root), and
compares each case between source and target. Prints a Markdown table (the one in
README) and writes bench/results/copy_fidelity.json. It must not be imported by the
product.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.fs.copy import copy_tree  # noqa: E402

RESULTS = REPO / "bench" / "results" / "copy_fidelity.json"
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL, FS_NODUMP_FL = (
    0x80086601, 0x40086602, 0x10, 0x40)
Case = tuple[str, Callable[[Path], None], Callable[[Path], object]]


def lst(path: Path) -> os.stat_result:
    return os.lstat(path)


def xattr(path: Path, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
    finally:
        os.close(fd)


def set_flags(path: Path, value: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", value))
    finally:
        os.close(fd)


def sparse(path: Path) -> None:
    with open(path, "wb") as out:
        out.write(b"x" * 8192)
        out.truncate(1 << 30)


def acl(path: Path, spec: str, default: bool = False) -> None:
    subprocess.run(["setfacl", *(["-d"] if default else []), "-m", spec, str(path)],
                   check=True)


CASES: list[Case] = [
    ("file content", lambda p: p.write_bytes(os.urandom(100_000)),
     lambda p: p.read_bytes()),
    ("owner and group (uid/gid)", lambda p: (p.write_text("x"), os.chown(p, 200001, 1001)),
     lambda p: (lst(p).st_uid, lst(p).st_gid)),
    ("mode, with setuid/setgid", lambda p: (p.write_text("x"), os.chmod(p, 0o6755)),
     lambda p: stat.S_IMODE(lst(p).st_mode)),
    ("sticky directory", lambda p: (p.mkdir(), os.chmod(p, 0o1777)),
     lambda p: stat.S_IMODE(lst(p).st_mode)),
    ("mtime to the nanosecond (files, dirs, links)",
     lambda p: (p.mkdir(), (p / "f").write_text("x"), os.symlink("f", p / "l"),
                os.utime(p / "f", ns=(1, 1_600_000_000_123_456_789)),
                os.utime(p / "l", ns=(1, 1_600_000_000_987_654_321), follow_symlinks=False),
                os.utime(p, ns=(1, 1_600_000_000_555_555_555))),
     lambda p: (lst(p).st_mtime_ns, lst(p / "f").st_mtime_ns, lst(p / "l").st_mtime_ns)),
    ("atime", lambda p: (p.write_text("x"), os.utime(p, ns=(1_500_000_000_000_000_007,
                                                          1_600_000_000_000_000_000))),
     lambda p: lst(p).st_atime_ns),
    ("symlink (target, owner)", lambda p: (os.symlink("../../somewhere", p),
                                           os.chown(p, 200001, 1001, follow_symlinks=False)),
     lambda p: (os.readlink(p), lst(p).st_uid)),
    ("hard links inside the tree", lambda p: (p.mkdir(), (p / "a").write_text("x"),
                                              os.link(p / "a", p / "b")),
     lambda p: (lst(p / "a").st_ino == lst(p / "b").st_ino, lst(p / "a").st_nlink)),
    ("FIFO, device node", lambda p: (p.mkdir(), os.mkfifo(p / "fifo"),
                                     os.mknod(p / "null", stat.S_IFCHR | 0o666,
                                              os.makedev(1, 3))),
     lambda p: (stat.S_IFMT(lst(p / "fifo").st_mode), lst(p / "null").st_rdev)),
    ("sparse file (holes)", sparse, lambda p: (lst(p).st_size, lst(p).st_blocks)),
    ("xattr user.*", lambda p: (p.write_text("x"), os.setxattr(p, "user.k", b"v")),
     lambda p: xattr(p, "user.k")),
    ("xattr trusted.* (as root)", lambda p: (p.write_text("x"),
                                            os.setxattr(p, "trusted.k", b"v")),
     lambda p: xattr(p, "trusted.k")),
    ("xattr security.* (as root)", lambda p: (p.write_text("x"),
                                             os.setxattr(p, "security.k", b"v")),
     lambda p: xattr(p, "security.k")),
    ("file capabilities (security.capability)",
     lambda p: (shutil.copy("/bin/true", p),
                subprocess.run(["setcap", "cap_net_raw+ep", str(p)], check=True)
                if shutil.which("setcap") else None),
     lambda p: xattr(p, "security.capability")),
    ("POSIX ACL (access)", lambda p: (p.write_text("x"), acl(p, "u:4242:rw")),
     lambda p: xattr(p, "system.posix_acl_access")),
    ("POSIX default ACL (directory)", lambda p: (p.mkdir(), acl(p, "u:4242:rwx", True)),
     lambda p: xattr(p, "system.posix_acl_default")),
    ("ext4 attribute flags (chattr +d)", lambda p: (p.write_text("x"),
                                                    set_flags(p, flags(p) | FS_NODUMP_FL)),
     lambda p: flags(p) & FS_NODUMP_FL),
    ("ctime", lambda p: p.write_text("x"), lambda p: lst(p).st_ctime_ns),
    ("inode number", lambda p: p.write_text("x"), lambda p: lst(p).st_ino),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="copy-fidelity-", dir=args.dir))
    try:
        src = base / "src"
        src.mkdir()
        made = {}
        for index, (_name, make, _) in enumerate(CASES):
            try:
                make(src / f"case-{index:02d}")
                made[index] = None
            except (OSError, subprocess.CalledProcessError) as error:
                made[index] = f"cannot be made here: {error}"
        outside = base / "outside"
        outside.write_text("x")
        os.link(outside, src / "linked-to-outside")
        started = time.monotonic()
        report = copy_tree(src, base / "dst", workers=4)
        seconds = time.monotonic() - started
        fs_type = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", str(base)],
                                 capture_output=True, text=True).stdout.split("\n")[0]
        rows = []
        for index, (name, _, measure) in enumerate(CASES):
            if made[index] is not None:
                rows.append({"property": name, "kept": None, "note": made[index]})
                continue
            before = measure(src / f"case-{index:02d}")
            after = measure(base / "dst" / f"case-{index:02d}")
            rows.append({"property": name, "kept": before == after,
                         "note": "" if before == after else f"{before!r} -> {after!r}"[:120]})
        outside_link = lst(base / "dst" / "linked-to-outside").st_nlink
        rows.append({"property": "hard link to a file outside the tree",
                     "kept": outside_link == 2,
                     "note": f"copied as a file of its own (nlink {outside_link})"})
        result = {"file_system": fs_type, "root": os.geteuid() == 0, "ok": report.ok,
                  "not_kept": [str(e) for e in report.not_kept], "seconds": seconds,
                  "rows": rows}
        print(f"| property ({fs_type}, {'root' if result['root'] else 'not root'}) "
              "| kept | |")
        print("|---|---|---|")
        for row in rows:
            kept = {True: "yes", False: "no", None: "n/a"}[row["kept"]]
            print(f"| {row['property']} | {kept} | {row['note']} |")
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    sys.exit(main())
