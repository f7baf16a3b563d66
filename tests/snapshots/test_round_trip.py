"""A snapshot through S3 and back gives exactly the tree it was taken of."""

from __future__ import annotations

import os
import subprocess

import pytest

from controller.snapshots.manifest import Source
from controller.snapshots.remap import KEEP, MAP, TARGET, OwnerPolicy
from controller.snapshots.restore import (
    FILL_MISSING,
    OVERWRITE_OLDER,
    open_target,
    restore_snapshot,
)
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot
from tests.snapshots.helpers import BUCKET, PREFIX, compare_trees, generate_tree, listing

ROOT = os.geteuid() == 0


def request(path: str, stamp: str = "20260101T000000Z", kms_key: str | None = None,
            profile: str = "research/alice") -> SnapshotRequest:
    domain, name = profile.split("/")
    return SnapshotRequest(
        "nightly", f"home/{domain}/{name}/home",
        Source("home", "studio-efs", "fs-test", path, "us-east-1", profile, "home", domain),
        BUCKET, PREFIX, stamp, "rev-1", 3, kms_key)


def restore(s3, kms, manifest, mount, where, owners=None, mode="newFolder"):
    (mount / where.strip("/")).mkdir(parents=True, exist_ok=True)
    fd = open_target(str(mount), where.strip("/").split("/"))
    try:
        return restore_snapshot(s3, kms, manifest, fd, owners or OwnerPolicy(), mode)
    finally:
        os.close(fd)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "kms"])
def test_round_trip_of_a_generated_tree_is_exact(s3, kms, kms_key, mount, encrypted):
    generate_tree(mount / "home/research/alice", files=900, mib=12)
    manifest = take_snapshot(s3, kms, request("/home/research/alice",
                                              kms_key=kms_key if encrypted else None), mount)
    assert manifest.counts["files"] > 500 and manifest.counts["hard_links"] > 0
    assert manifest.bytes_out < manifest.bytes_in
    assert (manifest.encryption is not None) is encrypted
    report = restore(s3, kms, manifest, mount, "/home/research/bob")
    restored = mount / "home/research/bob" / report.placed_in
    assert compare_trees(mount / "home/research/alice", restored) == []
    assert report.files == manifest.counts["files"] and report.skipped_count == 0


def test_the_manifest_is_written_last_and_no_upload_is_left_open(s3, kms, mount):
    generate_tree(mount / "home/research/alice", files=50, mib=1)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == sorted([manifest.archive_key,
                                   f"{PREFIX}/{manifest.id}/manifest.json"])
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    head = s3.head_object(Bucket=BUCKET, Key=manifest.archive_key)
    assert head["ContentLength"] == manifest.bytes_out


def test_an_unencrypted_snapshot_restores_with_standard_tools(s3, kms, mount, tmp_path):
    generate_tree(mount / "home/research/alice", files=80, mib=1)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    body = s3.get_object(Bucket=BUCKET, Key=manifest.archive_key)["Body"].read()
    out = tmp_path / "by-hand"
    out.mkdir()
    plain = subprocess.run(["zstd", "-d", "-c"], input=body, capture_output=True,
                           check=True).stdout
    subprocess.run(["tar", "-x", "--numeric-owner", "-C", str(out)], input=plain, check=True)
    assert compare_trees(mount / "home/research/alice", out) == []


@pytest.mark.skipif(not ROOT, reason="giving files to other owners needs root")
def test_uid_remap_gives_500_to_1000_and_keeps_others(s3, kms, mount):
    home = mount / "home/old/platform"
    home.mkdir(parents=True)
    for name, uid in (("mine.txt", 500), ("other.txt", 700)):
        (home / name).write_text(name)
        os.chown(home / name, uid, 500)
    os.chown(home, 500, 500)
    manifest = take_snapshot(s3, kms, request("/home/old/platform", profile="old/platform"),
                             mount)
    assert set(manifest.uids) == {500, 700}
    owners = OwnerPolicy(MAP, uid_map={500: 1000}, gid_map={500: 100})
    report = restore(s3, kms, manifest, mount, "/home/new/platform", owners)
    restored = mount / "home/new/platform" / report.placed_in
    assert (os.stat(restored / "mine.txt").st_uid, os.stat(restored / "mine.txt").st_gid) == (
        1000, 100)
    assert os.stat(restored / "other.txt").st_uid == 700
    assert os.stat(restored).st_uid == 1000


@pytest.mark.skipif(not ROOT, reason="owners and set-id bits need root")
def test_giving_everything_to_the_target_drops_setuid_bits(s3, kms, mount):
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    tool = home / "tool"
    tool.write_text("#!/bin/sh\n")
    os.chown(tool, 200101, 1001)
    os.chmod(tool, 0o4755)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    kept = restore(s3, kms, manifest, mount, "/home/research/alice2", OwnerPolicy(KEEP))
    assert os.stat(mount / "home/research/alice2" / kept.placed_in / "tool").st_mode & 0o7777 == (
        0o4755)
    given = restore(s3, kms, manifest, mount, "/home/analytics/dave",
                    OwnerPolicy(TARGET, target=(200201, 1003)))
    info = os.stat(mount / "home/analytics/dave" / given.placed_in / "tool")
    assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (200201, 1003, 0o755)


def test_sparse_files_xattrs_and_acls_survive(s3, kms, mount):
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    sparse = home / "sparse.bin"
    with open(sparse, "wb") as out:
        out.seek(64 << 20)
        out.write(b"end")
    os.setxattr(sparse, "user.origin", b"notebook")
    subprocess.run(["setfacl", "-m", "u:4242:r", str(sparse)], check=True)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    assert manifest.bytes_out < 1 << 20
    report = restore(s3, kms, manifest, mount, "/home/research/bob")
    back = mount / "home/research/bob" / report.placed_in / "sparse.bin"
    assert back.stat().st_size == (64 << 20) + 3
    assert back.stat().st_blocks * 512 < 1 << 20, "the restored file is no longer sparse"
    assert os.getxattr(back, "user.origin") == b"notebook"
    acl = subprocess.run(["getfacl", "-n", "-c", str(back)], capture_output=True, text=True,
                         check=True).stdout
    assert "user:4242:r--" in acl


def test_fill_missing_and_overwrite_older_modes(s3, kms, mount):
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    for name in ("kept.txt", "older.txt", "newer.txt", "gone.txt"):
        (home / name).write_text(f"snapshot {name}")
        os.utime(home / name, ns=(2_000_000_000 * 10**9, 2_000_000_000 * 10**9))
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    target = mount / "home/research/target"
    target.mkdir(parents=True)
    for name, mtime in (("kept.txt", 2_000_000_000), ("older.txt", 1_000_000_000),
                        ("newer.txt", 2_100_000_000)):
        (target / name).write_text(f"target {name}")
        os.utime(target / name, (mtime, mtime))
    fill = restore(s3, kms, manifest, mount, "/home/research/target", mode=FILL_MISSING)
    assert (target / "gone.txt").read_text() == "snapshot gone.txt"
    assert (target / "older.txt").read_text() == "target older.txt"
    assert fill.skipped_count == 3 and fill.placed_in == "."
    restore(s3, kms, manifest, mount, "/home/research/target", mode=OVERWRITE_OLDER)
    assert (target / "older.txt").read_text() == "snapshot older.txt"
    assert (target / "newer.txt").read_text() == "target newer.txt"
    assert (target / "kept.txt").read_text() == "target kept.txt"
    assert not [n for n in listing(target) if n.startswith(".studio-restore-")]
