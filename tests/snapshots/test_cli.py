"""`studioctl snapshot create|list|show|cat` and `studioctl restore`, through the real
CLI (a `studioctl` process) against the emulator, on the example estate converged, with
real content in alice's home."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from tests.converge.helpers import converge, file_system, prepared, reconciler
from tests.snapshots.helpers import compare_trees, generate_tree, scan

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "desired_state"
BUCKET = "studio-snapshots-us-east-1"
ROOT = os.geteuid() == 0


def studioctl(aws, *args: str, stderr=subprocess.PIPE) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.main", *args, "--desired", str(EXAMPLE),
         "--endpoint-url", aws.endpoint_url, "--efs-root", str(aws.efs_root),
         "--max-attempts", "3"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
        stderr=stderr, text=True, timeout=300)


@pytest.fixture
def estate(aws):
    """The example estate converged in us-east-1 (no status table: the controller takes
    no snapshots of its own here), alice's home holding a generated tree."""
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock(1_800_000_000.0)
    converge(reconciler(aws, clock, status=False), desired, clock)
    fs = file_system(aws, "us-east-1")["FileSystemId"]  # not the replica's copy
    mount = aws.efs_root / fs
    generate_tree(mount / "home/research/alice/work", files=300, mib=6)
    (mount / "home/research/alice/notes.txt").write_text("alice's notes\n")
    return desired, mount


def create(aws, profile: str = "research/alice") -> dict:  # type: ignore[no-untyped-def]
    done = studioctl(aws, "snapshot", "create", "--profile", profile, "--output", "json")
    assert done.returncode == 0, done.stderr
    (made,) = json.loads(done.stdout)
    return made  # type: ignore[no-any-return]


def test_create_then_restore_to_another_domains_profile_gives_it_alices_files(estate, aws):
    desired, mount = estate
    made = create(aws)
    assert made["id"].startswith("nightly/home/research/alice/home/") and made["encrypted"]
    assert made["files"] >= 200 and made["bytesOut"] < made["bytesIn"]

    listed = studioctl(aws, "snapshot", "list", "--profile", "research/alice")
    assert listed.stdout.split() == [made["id"]]

    done = studioctl(aws, "restore", "--from", made["id"], "--to-profile", "analytics/dave",
                     "--owners", "target", "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["files"] == made["files"] and report["skippedCount"] == 0
    restored = mount / "home/analytics/dave" / report["placedIn"]
    assert report["to"].endswith(f"/home/analytics/dave/{report['placedIn']}")
    assert (restored / "notes.txt").read_text() == "alice's notes\n"
    alice, dave = scan(mount / "home/research/alice")[0], scan(restored)[0]
    assert sorted(alice) == sorted(dave), "every name of alice's home, no more"
    content = {rel: rec[-1] for rel, rec in alice.items() if len(rec) == 7}
    assert content and content == {rel: rec[-1] for rel, rec in dave.items() if len(rec) == 7}
    if ROOT:
        uid, gid = desired.profiles["analytics/dave"].posix.uid, desired.profiles[
            "analytics/dave"].posix.gid
        assert {(rec[2], rec[3]) for rec in dave.values()} == {(uid, gid)}


@pytest.mark.skipif(not ROOT, reason="owners can only be remapped by root")
def test_restore_from_a_live_profile_remaps_owners_and_fills_only_what_is_missing(estate, aws):
    _, mount = estate
    dave = mount / "home/analytics/dave"
    (dave / "notes.txt").write_text("dave's own notes\n")
    done = studioctl(aws, "restore", "--from-profile", "research/alice", "--to-profile",
                     "analytics/dave", "--mode", "fillMissing", "--uid-map", "200001:4242",
                     "--output", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["placedIn"] == "." and report["skippedCount"] == 1
    assert (dave / "notes.txt").read_text() == "dave's own notes\n", "nothing replaced"
    work_alice, work_dave = scan(mount / "home/research/alice/work")[0], scan(dave / "work")[0]
    assert sorted(work_alice) == sorted(work_dave)
    for rel, record in work_alice.items():
        expected = 4242 if record[2] == 200001 else record[2]
        assert work_dave[rel][2] == expected, rel
    assert any(record[2] == 200001 for record in work_alice.values())


def test_a_tampered_snapshot_is_refused_with_exit_2_and_nothing_written(estate, aws):
    _, mount = estate
    made = create(aws)
    manifest = json.loads(studioctl(aws, "snapshot", "show", made["id"]).stdout)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=manifest["archive_key"])["Body"].read())
    body[len(body) // 2] ^= 0x40
    s3.put_object(Bucket=BUCKET, Key=manifest["archive_key"], Body=bytes(body))
    before = scan(mount / "home/analytics/dave")
    done = studioctl(aws, "restore", "--from", made["id"], "--to-profile", "analytics/dave")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "refused" in done.stderr and "SHA-256" in done.stderr
    assert scan(mount / "home/analytics/dave") == before


def test_cat_gives_the_decrypted_tar_that_standard_tools_extract(estate, aws, tmp_path):
    _, mount = estate
    made = create(aws)
    shown = json.loads(studioctl(aws, "snapshot", "show", made["id"]).stdout)
    assert shown["encryption"]["algorithm"] == "AES-256-GCM"
    tar = subprocess.run(
        [sys.executable, "-m", "controller.cli.main", "snapshot", "cat", made["id"],
         "--desired", str(EXAMPLE), "--endpoint-url", aws.endpoint_url],
        cwd=REPO, capture_output=True, check=True).stdout
    out = tmp_path / "by-hand"
    out.mkdir()
    subprocess.run(["tar", "-x", "--numeric-owner", "-C", str(out)], input=tar, check=True)
    assert compare_trees(mount / "home/research/alice", out) == []


def test_progress_is_drawn_on_a_terminal_and_never_into_a_pipe(estate, aws):
    made = create(aws)
    restore = ("restore", "--from", made["id"], "--to-profile", "analytics/dave")
    piped = studioctl(aws, *restore)
    assert piped.returncode == 0 and "ETA" not in piped.stderr
    leader, follower = pty.openpty()
    try:
        done = studioctl(aws, *restore, stderr=follower)
    finally:
        os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert done.returncode == 0
    last = seen.decode().replace("\r\n", "\n").split("\r")[-1]
    assert " files, " in last and "/s, 100%, ETA 0s" in last, seen[-300:]


def test_the_help_teaches_and_wrong_options_are_one_line(aws):
    shown = subprocess.run([sys.executable, "-m", "controller.cli.main", "restore", "--help"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout
    for words in ("--from-profile DOMAIN/NAME", "--uid-map 500:1000", "fillMissing",
                  "Exit status", "refused", "Examples"):
        assert words in shown
    done = studioctl(aws, "restore", "--from-profile", "research/alice", "--to-profile",
                     "analytics/dave", "--uid-map", "alice:1000")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "restore: alice:1000 is not a pair of numeric ids (like 500:1000)"]
