"""Restores hold at any depth, name things as the copy engine does, and clean up after
restores that died.

A home nested 3,000 levels deep is snapshotted (tar handles it) and restored in a process
whose open-file limit is 256: the extractor, the merge and the removal of a staging folder
hold directories on the copy engine's DirStack, so they neither run out of descriptors
nor recurse. Names in reports are escaped by controller.escaping. A staging folder left
by a restore that was killed is removed by the next restore into that target; one still
being filled, a user's look-alike, and a link by that name are left alone.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from controller.escaping import escape
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import restore_snapshot
from controller.snapshots.snapshot import take_snapshot
from controller.snapshots.staging import STAGING_PREFIX, STAGING_SUFFIX, this_process
from tests.copy.test_deep_trees import chain_metadata, stamp_chain
from tests.fs.test_salvage_bounded import make_chain
from tests.scratch import scratch
from tests.snapshots.helpers import raw_tar, upload_raw_snapshot
from tests.snapshots.test_round_trip import request, restore

__all__ = ["scratch"]

REPO = Path(__file__).resolve().parents[2]
LIMIT = 256
RESTORE = """
import json, os, sys
import boto3
from controller.snapshots.manifest import Manifest
from controller.snapshots.remap import OwnerPolicy
from controller.snapshots.restore import open_target, restore_snapshot
endpoint, manifest_json, mount, mode = sys.argv[1:5]
s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
kms = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint)
manifest = Manifest.from_json(open(manifest_json).read())
target = open_target(mount, ["target"])
report = restore_snapshot(s3, kms, manifest, target, OwnerPolicy(), mode)
print(json.dumps(report.as_dict()))
"""


def restore_with_few_descriptors(aws, manifest, mount: Path, mode: str) -> dict:
    (mount.parent / "manifest.json").write_text(manifest.to_json())

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    done = subprocess.run(
        [sys.executable, "-c", RESTORE, aws.endpoint_url, str(mount.parent / "manifest.json"),
         str(mount), mode], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, preexec_fn=low_limit, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_home_far_deeper_than_the_descriptor_limit_restores_exactly(aws, s3, kms, scratch):
    mount = scratch / "fs-test"
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    make_chain(home, 3000, file_every=250)
    stamp_chain(home)
    (mount / "target").mkdir()
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    assert manifest.counts["directories"] == 3001

    report = restore_with_few_descriptors(aws, manifest, mount, "newFolder")
    assert report["directories"] == 3000 and report["files"] == 12
    assert chain_metadata(mount / "target" / report["placedIn"]) == chain_metadata(home)

    # Merged into a target holding the first 1,000 levels: the rest moves in, nothing stays.
    partial = mount / "target" / "merged"
    partial.mkdir()
    make_chain(partial, 1000)
    (mount / "target" / report["placedIn"]).rename(mount / "target-first")
    fd = os.open(mount / "target", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename("merged", "merged-in", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
    merged = restore_with_few_descriptors(aws, manifest, mount, "fillMissing")
    assert merged["skippedCount"] == 0
    assert len(chain_metadata(mount / "target")) == 3001
    assert [entry for entry in os.listdir(mount / "target")
            if entry.startswith(STAGING_PREFIX)] == []


def test_names_in_a_restore_report_are_escaped_as_everywhere_else(s3, kms, mount):
    name = "./dev\nerror: forged line\x1b[31m"

    def build(archive: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        archive.addfile(info)
    manifest = upload_raw_snapshot(s3, raw_tar(build), "nightly/home/x/y/home/20260101T000000Z")
    report = restore(s3, kms, manifest, mount, "/home/analytics/dave")
    assert report.skipped == [(escape(name), "device node: not restored")]
    assert "\n" not in report.skipped[0][0] and "\\n" in report.skipped[0][0]


def dead_pid() -> int:
    """A pid that has just ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_next_restore_removes_staging_folders_of_restores_that_died(s3, kms, mount):
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("v1")
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    target = mount / "home/research/bob"
    target.mkdir(parents=True)
    host, _, _ = this_process().split(".")

    def staging(pid: int, start: str) -> str:
        return f"{STAGING_PREFIX}{host}.{pid}.{start}.0badc0de{STAGING_SUFFIX}"
    dead = target / staging(dead_pid(), "12345")
    (dead / "deep/er").mkdir(parents=True, mode=0o700)
    (dead / "deep/er/half-written.bin").write_bytes(b"x" * 1000)
    os.chmod(dead, 0o700)
    alive = target / staging(os.getpid(), this_process().split(".")[2])
    alive.mkdir(mode=0o700)
    users = target / staging(dead_pid(), "1")
    users.mkdir(mode=0o700)
    os.chown(users, 200001, 1001)
    link = target / staging(dead_pid(), "2")
    link.symlink_to(dead)

    report = restore(s3, kms, manifest, mount, "/home/research/bob")
    assert (target / report.placed_in / "notes.txt").read_text() == "v1"
    assert not os.path.lexists(dead), "a dead restore's staging folder is removed"
    assert alive.is_dir(), "a restore still running keeps its staging folder"
    assert users.is_dir() and link.is_symlink(), "only folders the operator made are touched"


@pytest.mark.parametrize("mode", ["newFolder", "fillMissing"])
def test_the_controllers_recorded_staging_folder_is_removed_before_it_restores_again(
        s3, kms, mount, mode):
    home = mount / "home/research/alice"
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("v1")
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    target = mount / "home/research/bob"
    target.mkdir(parents=True)
    # Made on another host (a Fargate task that was replaced): only its record says so.
    other_host = target / f"{STAGING_PREFIX}ffffffff.7.99.0badc0de{STAGING_SUFFIX}"
    (other_host / "half").mkdir(parents=True, mode=0o700)
    os.chmod(other_host, 0o700)
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        report = restore_snapshot(s3, kms, manifest, fd, OwnerPolicy(), mode,
                                  stale=[other_host.name])
    finally:
        os.close(fd)
    assert not os.path.lexists(other_host)
    assert (target / report.placed_in / "notes.txt").read_text() == "v1"
    assert [n for n in os.listdir(target) if n.startswith(STAGING_PREFIX)] == []


def test_a_default_acl_on_the_target_is_not_given_to_restored_entries(s3, kms, mount):
    home = mount / "home/research/alice"
    (home / "sub").mkdir(parents=True)
    (home / "sub/plain.txt").write_text("no ACL")
    (home / "with-acl.txt").write_text("an ACL")
    subprocess.run(["setfacl", "-m", "u:4242:r", str(home / "with-acl.txt")], check=True)
    manifest = take_snapshot(s3, kms, request("/home/research/alice"), mount)
    target = mount / "home/research/bob"
    target.mkdir(parents=True)
    subprocess.run(["setfacl", "-d", "-m", "u:777:rwx", str(target)], check=True)
    report = restore(s3, kms, manifest, mount, "/home/research/bob")
    restored = target / report.placed_in

    def acl(path: Path) -> str:
        return subprocess.run(["getfacl", "-n", "-c", "-p", str(path)], capture_output=True,
                              text=True, check=True).stdout
    assert "777" not in acl(restored / "sub/plain.txt") + acl(restored / "sub")
    assert "user:4242:r--" in acl(restored / "with-acl.txt")
    assert "777" not in acl(restored / "with-acl.txt")
