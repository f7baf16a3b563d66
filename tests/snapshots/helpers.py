"""Helpers for the snapshot tests: a generated tree, an exact comparison, raw archives.

The trees come from ../shared/tools/gentree.py and are compared with verify.py
--content when ../shared/tools is there (a developer's machine); CI has no ../shared
beside the clone, so the tests then say so and use their own generator and comparison,
which check the same things (type, mode, owner, size, mtime_ns, link target, hard-link
grouping, content): the round trip is checked exactly either way.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

from controller.snapshots.manifest import (
    ARCHIVE_NAME,
    MANIFEST_NAME,
    Manifest,
    Part,
    Source,
    composite_sha256,
    object_key,
)

TOOLS = Path(__file__).resolve().parents[3] / "shared" / "tools"
BUCKET = "studio-snapshots-test"
PREFIX = "snapshots"


def shared_tool(name: str) -> Path | None:
    path = TOOLS / name
    if path.is_file():
        return path
    warnings.warn(f"{path} is absent (no ../shared/tools beside the clone): using the "
                  "tests' own tree generator and comparison instead", stacklevel=2)
    return None


def generate_tree(root: Path, files: int = 600, mib: float = 8) -> None:
    tool = shared_tool("gentree.py")
    if tool is not None:
        subprocess.run([sys.executable, str(tool), str(root), "--files", str(files),
                        "--total-mib", str(mib), "--seed", "7"], check=True,
                       stdout=subprocess.DEVNULL)
        return
    _own_tree(root, files)


def _own_tree(root: Path, files: int) -> None:
    """A smaller stand-in for gentree: nested dirs, text and random files, hard links,
    symlinks (one dangling), odd modes, owners, nanosecond mtimes, an empty dir."""
    import random

    rng = random.Random(7)
    root.mkdir(parents=True)
    made: list[Path] = []
    for index in range(files):
        folder = root / f"d{index % 7}" / f"s{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{index}.txt"
        path.write_bytes((f"line {index}\n" * rng.randint(0, 400)).encode()
                         + os.urandom(rng.randint(0, 3000)))
        os.chmod(path, rng.choice([0o644, 0o600, 0o755, 0o444]))
        if os.geteuid() == 0:
            os.chown(path, rng.choice([200001, 1000, 0]), rng.choice([1001, 100]))
        os.utime(path, ns=(1_600_000_000_123_456_789 + index, 1_600_000_000_987_654_321 + index))
        made.append(path)
    for index in range(0, files, 10):
        os.link(made[index], made[index].with_name(f"hard{index}"))
    os.symlink("f0.txt", root / "d0" / "s0" / "link")
    os.symlink("../nowhere", root / "d1" / "dangling")
    (root / "empty").mkdir()


def compare_trees(a: Path, b: Path) -> list[str]:
    """Differences between two trees; empty when they are the same."""
    tool = shared_tool("verify.py")
    if tool is not None:
        done = subprocess.run([sys.executable, str(tool), str(a), str(b), "--content"],
                              capture_output=True, text=True)
        return [] if done.returncode == 0 else [done.stdout[-2000:]]
    return _own_compare(a, b)


def scan(root: Path) -> tuple[dict[str, tuple], dict[str, tuple[str, ...]]]:
    entries: dict[str, tuple] = {}
    groups: dict[int, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            info = os.lstat(path)
            record: tuple = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                             info.st_uid, info.st_gid)
            if stat.S_ISLNK(info.st_mode):
                record += (os.readlink(path),)
            else:
                record += (info.st_mtime_ns,)
            if stat.S_ISREG(info.st_mode):
                record += (info.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
                groups.setdefault(info.st_ino, []).append(rel)
            entries[rel] = record
    links = {rel: tuple(sorted(group)) for group in groups.values() for rel in group}
    return entries, links


def _own_compare(a: Path, b: Path) -> list[str]:
    (ea, la), (eb, lb) = scan(a), scan(b)
    return [f"{rel}: {ea.get(rel)} != {eb.get(rel)}" for rel in sorted(set(ea) | set(eb))
            if ea.get(rel) != eb.get(rel) or la.get(rel) != lb.get(rel)][:20]


def listing(root: Path) -> dict[str, tuple]:
    """Everything under `root` (names, types, sizes, owners, modes, mtimes)."""
    return scan(root)[0] if root.exists() else {}


def raw_tar(build) -> bytes:  # type: ignore[no-untyped-def]
    """A tar archive made by `build(tarfile.TarFile)`: for hostile archives."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        build(archive)
    return buffer.getvalue()


def add(archive: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE,
        data: bytes = b"", link: str = "", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.uid, info.gid = 200001, 1001
    archive.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def upload_raw_snapshot(s3, tar_bytes: bytes, snapshot: str, fs_id: str = "fs-test",  # type: ignore[no-untyped-def]
                        part_size: int = 5 << 20) -> Manifest:
    """Store an arbitrary tar (zstd-compressed) as a complete snapshot with a manifest."""
    compressed = subprocess.run(["zstd", "-q", "-c"], input=tar_bytes, capture_output=True,
                                check=True).stdout
    key = object_key(PREFIX, snapshot, ARCHIVE_NAME)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts, done = [], []
    for number, start in enumerate(range(0, max(1, len(compressed)), part_size), 1):
        chunk = compressed[start:start + part_size]
        answer = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                                Body=chunk)
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
        parts.append(Part(number, len(chunk), hashlib.sha256(chunk).hexdigest()))
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": done})
    policy = snapshot.split("/", 1)[0]
    manifest = Manifest(
        id=snapshot, policy=policy,
        source=Source("home", "studio-efs", fs_id, "/home/x/y", "us-east-1", "x/y", "home", "x"),
        created_at=1.0, completed_at=2.0, revision="r", bucket=BUCKET, archive_key=key,
        compression="zstd", compression_level=3, parts=tuple(parts),
        sha256=composite_sha256([p.sha256 for p in parts]), bytes_in=len(tar_bytes),
        bytes_out=len(compressed), counts={}, uids=(), gids=())
    s3.put_object(Bucket=BUCKET, Key=object_key(PREFIX, snapshot, MANIFEST_NAME),
                  Body=manifest.to_json().encode())
    return manifest
