"""The notebook lifecycle script, run in real bash against folders, with the emulator's
S3 as the only network: a snapshot keeps owners, modes, links and holes; a restore
fills a new volume from the snapshot the instance's tags name, remapping owners."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from controller.notebooks.render import NotebookScriptSettings, lifecycle_script, start_script
from tests.notebooks.conftest import BUCKET, Instance, MakeInstance

# The reference comparison of two trees, from shared/tools beside the repository.
VERIFY = Path(__file__).resolve().parents[3] / "shared" / "tools" / "verify.py"
GiB = 1 << 30
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="owners need root")


def fill_volume(volume: Path, sparse_bytes: int = 2 * GiB) -> None:
    """What the write-ups' volumes hold: notebooks, hard links, symlinks, a large sparse
    file, and (as root) files of ec2-user on Amazon Linux 1 (uid 500)."""
    (volume / "project" / "data").mkdir(parents=True)
    (volume / "project" / "analysis.ipynb").write_text('{"cells": []}')
    (volume / "project" / "data" / "train.csv").write_text("a,b\n1,2\n" * 1000)
    os.link(volume / "project" / "data" / "train.csv", volume / "project" / "train-link.csv")
    (volume / "project" / "latest").symlink_to("data/train.csv")
    (volume / "project" / "dangling").symlink_to("/nowhere/at/all")
    (volume / ".jupyter").mkdir()
    (volume / ".jupyter" / "config.json").write_text("{}")
    os.chmod(volume / "project" / "data", 0o750)
    os.chmod(volume / "project" / "analysis.ipynb", 0o640)
    with open(volume / "sparse.bin", "wb") as sparse:
        sparse.seek(sparse_bytes - 5)
        sparse.write(b"tail\n")
    (volume / "empty-folder").mkdir()
    if os.geteuid() == 0:
        for path in [volume / "project", *(volume / "project").rglob("*"), volume / ".jupyter"]:
            os.lchown(path, 500, 500)


def snapshots(aws_url: str, notebook: str = "research-notebook") -> list[dict]:
    s3 = boto3.client("s3", endpoint_url=aws_url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    manifests = sorted(k for k in keys if k.endswith("/manifest.json") and f"/{notebook}/" in k)
    return [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in manifests]


def objects(aws_url: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=aws_url)
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def verify(expected: Path, actual: Path) -> subprocess.CompletedProcess[str]:
    assert VERIFY.exists(), f"{VERIFY} is missing (shared/tools beside the repository)"
    return subprocess.run([sys.executable, str(VERIFY), str(expected), str(actual), "--content"],
                          capture_output=True, text=True, timeout=600)


def remapped_copy(source: Path, target: Path, mapping: dict[int, int]) -> Path:
    """What the new volume should hold: the old one with owners mapped."""
    subprocess.run(["cp", "-a", "--sparse=always", f"{source}/.", str(target)], check=True)
    for path in [*target.rglob("*")]:
        st = path.lstat()
        os.lchown(path, mapping.get(st.st_uid, st.st_uid), mapping.get(st.st_gid, st.st_gid))
    return target


def test_a_snapshot_of_the_volume_is_in_the_snapshot_format_with_manifest_and_marker(
        make_instance: MakeInstance) -> None:
    old = make_instance(ec2_user="500:500")
    fill_volume(old.volume, sparse_bytes=64 << 20)

    result = old.run()

    assert result.returncode == 0, result.stderr
    (manifest,) = snapshots(old.aws.endpoint_url)
    base = f"studio-snapshots/{manifest['id']}"
    assert manifest["id"].startswith("nightly/notebook/research-notebook/")
    assert manifest["format"] == "studio-operator-snapshot/v1"
    assert manifest["source"]["kind"] == "notebook"
    assert manifest["source"]["instance"] == "research-notebook"
    assert manifest["source"]["owner"] == "500:500"
    assert manifest["compression"] == ("zstd" if shutil.which("zstd") else "gzip")
    assert manifest["counts"]["hard_links"] == 1 and manifest["counts"]["symlinks"] == 2
    assert sum(p["size"] for p in manifest["parts"]) == manifest["bytes_out"]
    # The 64 MiB hole is not stored: the archive is small.
    assert manifest["bytes_out"] < 1 << 20
    assert {f"{base}/manifest.json", f"{base}/COMPLETE", manifest["archive_key"]} <= set(
        objects(old.aws.endpoint_url))
    if os.geteuid() == 0:
        assert 500 in manifest["uids"]
    assert (old.state / "last-backup").read_text().strip() == manifest["id"]


@pytest.mark.slow  # over 40 s on a loaded 2-core machine
@ROOT_ONLY
def test_a_new_volume_is_restored_exactly_with_owners_500_remapped_to_1000(
        make_instance: MakeInstance, tmp_path: Path) -> None:
    old = make_instance("research-notebook", ec2_user="500:500")
    fill_volume(old.volume)
    assert old.run().returncode == 0
    (manifest,) = snapshots(old.aws.endpoint_url)
    new = make_instance("research-notebook-2")
    new.tag(restore_snapshot=manifest["id"], restore_owner_map="500:1000")

    result = new.run()

    assert result.returncode == 0, result.stderr
    expected = remapped_copy(old.volume, tmp_path / "expected", {500: 1000})
    checked = verify(expected, new.volume)
    assert checked.returncode == 0, checked.stdout
    restored = new.volume / "sparse.bin"
    assert restored.stat().st_size == 2 * GiB
    assert restored.stat().st_blocks * 512 < 1 << 20  # still sparse
    marker = f"studio-snapshots/{manifest['id']}/restored/research-notebook-2"
    assert marker in objects(new.aws.endpoint_url)
    # The new instance then took a snapshot of its own, after the restore.
    newest = snapshots(new.aws.endpoint_url)[-1]
    assert newest["source"]["instance"] == "research-notebook-2"
    assert 500 not in newest["uids"]


@pytest.mark.slow  # over 40 s on a loaded 2-core machine
def test_a_restore_happens_once(make_instance: MakeInstance) -> None:
    old = make_instance()
    (old.volume / "notes.txt").write_text("v1")
    assert old.run().returncode == 0
    (manifest,) = snapshots(old.aws.endpoint_url)
    new = make_instance("research-notebook-2")
    new.tag(restore_snapshot=manifest["id"])
    assert new.run().returncode == 0
    (new.volume / "notes.txt").write_text("changed on the new instance")

    result = new.run()

    assert result.returncode == 0, result.stderr
    assert (new.volume / "notes.txt").read_text() == "changed on the new instance"


@pytest.mark.slow  # over 40 s on a loaded 2-core machine
def test_a_damaged_part_stops_the_restore_before_anything_lands(
        make_instance: MakeInstance) -> None:
    old = make_instance()
    (old.volume / "notes.txt").write_text("precious")
    assert old.run().returncode == 0
    (manifest,) = snapshots(old.aws.endpoint_url)
    s3 = boto3.client("s3", endpoint_url=old.aws.endpoint_url)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=manifest["archive_key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=manifest["archive_key"], Body=bytes(body))
    new = make_instance("research-notebook-2")
    new.tag(restore_snapshot=manifest["id"])

    result = new.run()

    assert result.returncode != 0
    assert "not what the manifest says" in result.stderr
    assert sorted(p.name for p in new.volume.iterdir()) == []
    restored = f"studio-snapshots/{manifest['id']}/restored/research-notebook-2"
    assert restored not in objects(new.aws.endpoint_url)


def test_no_call_leaves_for_anything_but_the_emulator(make_instance: MakeInstance) -> None:
    old = make_instance()
    (old.volume / "notes.txt").write_text("offline")
    old.aws.reset_request_counts()

    result = old.run()

    assert result.returncode == 0, result.stderr
    calls = old.aws.request_counts()
    # S3 for the snapshot, and the instance's own tags (is there a restore to do?).
    assert {c for c in calls if not c.startswith("s3:")} == {"sagemaker:ListTags"}, calls


def test_the_script_returns_at_once_and_the_snapshot_finishes_in_the_background(
        make_instance: MakeInstance) -> None:
    old = make_instance()
    fill_volume(old.volume, sparse_bytes=16 << 20)
    started = time.monotonic()

    result = old.run(wrapped=True, STUDIO_OPERATOR_FOREGROUND="0")

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10  # far inside the 5-minute limit
    deadline = time.monotonic() + 120
    while not snapshots(old.aws.endpoint_url):
        assert time.monotonic() < deadline, (old.state / "start.log").read_text()
        time.sleep(0.2)
    assert "continues in the background" in (old.state / "start.log").read_text()


def test_settings_that_would_need_quoting_are_refused() -> None:
    for bad in ({"bucket": "a b"}, {"prefix": "x/../y"}, {"notebook": "nb;rm"},
                {"kms_key_id": "key$(id)"}):
        values = {"bucket": "bucket", "policy": "nightly", "notebook": "nb",
                  "region": "us-east-1", **bad}
        with pytest.raises(ValueError):
            NotebookScriptSettings(**values)  # type: ignore[arg-type]


def test_the_scripts_pass_shellcheck_and_fit_sagemakers_limit(tmp_path: Path) -> None:
    settings = NotebookScriptSettings("bucket", "nightly", "nb", "us-east-1",
                                      kms_key_id="alias/snapshots")
    for name, text in (("start.sh", start_script(settings)),
                       ("seal.sh", start_script(settings, "seal")),
                       ("seal-wrapper.sh", lifecycle_script(settings, "seal")),
                       ("wrapper.sh", lifecycle_script(settings))):
        (tmp_path / name).write_text(text)
        checked = subprocess.run(["shellcheck", "--severity=style", str(tmp_path / name)],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
    unpacked = subprocess.run(
        ["bash", "-c", "sed -n '/^base64 -d/,/^PAYLOAD$/p' \"$1\" | sed '1d;$d' | "
         "base64 -d | gunzip -c", "_", str(tmp_path / "wrapper.sh")],
        capture_output=True, text=True, check=True)
    assert unpacked.stdout == start_script(settings)


def test_instance_helper_is_an_instance() -> None:
    assert Instance.__dataclass_fields__  # the fixture's type, importable
