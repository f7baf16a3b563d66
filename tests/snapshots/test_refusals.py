"""Hostile archives and damaged snapshots are refused, and nothing lands anywhere.

Each hostile archive tries to write or read outside the restore: an absolute name, a
`..` component, a symlink followed by a file through it, a hard link to a file outside.
A device node is skipped and reported. A flipped byte in one part, a truncated archive
and an encrypted stream cut before its last frame are refused before anything becomes
visible in the target.
"""

from __future__ import annotations

import os
import tarfile

import pytest

from controller.snapshots.manifest import Manifest, object_key
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import SnapshotRefused, open_target, restore_snapshot
from controller.snapshots.snapshot import take_snapshot
from tests.snapshots.helpers import (
    BUCKET,
    PREFIX,
    add,
    generate_tree,
    listing,
    raw_tar,
    upload_raw_snapshot,
)
from tests.snapshots.test_round_trip import request

SNAPSHOT = "nightly/home/x/y/home/20260101T000000Z"


def _restore(s3, kms, manifest, mount):
    target = mount / "home/analytics/dave"
    target.mkdir(parents=True, exist_ok=True)
    fd = open_target(str(mount), ["home", "analytics", "dave"])
    try:
        return restore_snapshot(s3, kms, manifest, fd, OwnerPolicy())
    finally:
        os.close(fd)


def _hostile(kind: str):  # type: ignore[no-untyped-def]
    def build(archive: tarfile.TarFile) -> None:
        add(archive, "./ok.txt", data=b"fine")
        if kind == "absolute":
            add(archive, "/tmp/escaped-absolute.txt", data=b"x")
        elif kind == "dotdot":
            add(archive, "./a/../../escaped-dotdot.txt", data=b"x")
        elif kind == "symlink-then-file":
            add(archive, "./sneaky", tarfile.SYMTYPE, link="../../..")
            add(archive, "./sneaky/escaped-through-link.txt", data=b"x")
        elif kind == "hardlink-outside":
            add(archive, "./passwd", tarfile.LNKTYPE, link="../../outside.txt")
        elif kind == "hardlink-absolute":
            add(archive, "./passwd", tarfile.LNKTYPE, link="/etc/passwd")
    return build


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-then-file",
                                  "hardlink-outside", "hardlink-absolute"])
def test_a_hostile_archive_is_refused_with_nothing_written(s3, kms, mount, tmp_path, kind):
    (mount / "outside.txt").write_text("the operator's")
    manifest = upload_raw_snapshot(s3, raw_tar(_hostile(kind)), SNAPSHOT)
    before = listing(tmp_path)
    with pytest.raises(SnapshotRefused) as refused:
        _restore(s3, kms, manifest, mount)
    assert "outside the restore" in str(refused.value)
    after = listing(tmp_path)
    assert {k: v for k, v in after.items() if k not in before} == {
        "efs/fs-test/home": after["efs/fs-test/home"],
        "efs/fs-test/home/analytics": after["efs/fs-test/home/analytics"],
        "efs/fs-test/home/analytics/dave": after["efs/fs-test/home/analytics/dave"]}, (
        "only the (empty) target folder was made")
    assert not os.path.lexists("/tmp/escaped-absolute.txt")
    assert os.stat(mount / "outside.txt").st_nlink == 1


def test_device_nodes_are_skipped_and_reported(s3, kms, mount):
    def build(archive: tarfile.TarFile) -> None:
        add(archive, "./ok.txt", data=b"fine")
        info = tarfile.TarInfo("./disk")
        info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0
        archive.addfile(info)
    manifest = upload_raw_snapshot(s3, raw_tar(build), SNAPSHOT)
    report = _restore(s3, kms, manifest, mount)
    restored = mount / "home/analytics/dave" / report.placed_in
    assert (restored / "ok.txt").read_bytes() == b"fine"
    assert not os.path.lexists(restored / "disk")
    assert report.skipped == [("./disk", "device node: not restored")]


def _corrupt_part(s3, manifest: Manifest, number: int) -> None:
    offset = sum(p.size for p in manifest.parts[:number - 1]) + manifest.parts[number - 1].size // 2
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=manifest.archive_key)["Body"].read())
    body[offset] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=manifest.archive_key, Body=bytes(body))


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "kms"])
def test_a_flipped_byte_in_one_part_is_refused_before_anything_is_written(
        s3, kms, kms_key, mount, encrypted):
    generate_tree(mount / "home/research/alice", files=400, mib=14)
    manifest = take_snapshot(s3, kms, request("/home/research/alice",
                                              kms_key=kms_key if encrypted else None), mount)
    assert len(manifest.parts) >= 2
    _corrupt_part(s3, manifest, len(manifest.parts))  # the last part: most was extracted
    (mount / "home/analytics/dave").mkdir(parents=True)
    before = listing(mount / "home/analytics/dave")
    with pytest.raises(SnapshotRefused, match="part 2 .*SHA-256|does not match"):
        _restore(s3, kms, manifest, mount)
    assert listing(mount / "home/analytics/dave") == before


def test_a_truncated_archive_is_refused(s3, kms, mount):
    generate_tree(mount / "home/research/alice", files=200, mib=3)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    body = s3.get_object(Bucket=BUCKET, Key=manifest.archive_key)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=manifest.archive_key, Body=body[:len(body) // 2])
    with pytest.raises(SnapshotRefused, match="truncated"):
        _restore(s3, kms, manifest, mount)
    assert listing(mount / "home/analytics/dave") == {}


def test_an_encrypted_stream_cut_before_its_last_frame_is_refused(s3, kms, kms_key, mount):
    """Even when whoever cut it also rewrote the manifest to match (checksums agree), the
    missing last frame is detected: the end of the stream is authenticated."""
    generate_tree(mount / "home/research/alice", files=300, mib=6)
    manifest = take_snapshot(s3, kms, request("/home/research/alice", kms_key=kms_key), mount)
    body = s3.get_object(Bucket=BUCKET, Key=manifest.archive_key)["Body"].read()
    cut = body[:len(body) - 100]
    import hashlib
    from dataclasses import replace

    from controller.snapshots.manifest import Part, composite_sha256
    s3.put_object(Bucket=BUCKET, Key=manifest.archive_key, Body=cut)
    parts = (Part(1, len(cut), hashlib.sha256(cut).hexdigest()),)
    rewritten = replace(manifest, parts=parts, bytes_out=len(cut),
                        sha256=composite_sha256([parts[0].sha256]))
    s3.put_object(Bucket=BUCKET, Key=object_key(PREFIX, manifest.id, "manifest.json"),
                  Body=rewritten.to_json().encode())
    with pytest.raises(SnapshotRefused, match="truncated|authentication"):
        _restore(s3, kms, rewritten, mount)
    assert listing(mount / "home/analytics/dave") == {}
