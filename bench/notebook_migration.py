"""Benchmark a notebook instance migration beside the write-ups' `aws s3 sync`, in one run.

A 1 GiB volume (../shared/tools/gentree.py: 20,000 entries, hard links, symlinks, mixed
modes; its files given to ec2-user of Amazon Linux 1, uid 500) on an emulated
notebook-al1-v1 instance, moved to a new notebook-al2-v3 instance (ec2-user 1000):

- the operator's way: the lifecycle script studio-operator attaches
  (controller/notebooks) snapshots the volume on start (tar + zstd, multipart to S3,
  manifest, marker) and the new instance, created with the restore tags, fills its
  volume from it in the background, owners 500 -> 1000. Timed from the old instance's
  start to the snapshot's marker, and from the new instance's creation to the restore's
  marker; checked with verify.py against the old volume with owners remapped.
- the write-ups' way: `aws s3 sync VOLUME s3://bucket/sync/` on the old instance, then
  `aws s3 sync s3://bucket/sync/ NEW_VOLUME` on the new one, through the same emulated
  S3 (the machine's aws CLI). Timed, and checked the same way. With --no-follow-symlinks:
  by default s3 sync follows links, and a generated home's links to folders make loops
  (measured on a 2,000-entry tree: 32,075 entries came back, in 6 minutes).

For both, per property: how many files have their content, owner, mode and mtime, how
many symlinks are still links, how many hard-link groups are still one inode.
Writes bench/results/notebook_migration.json. Needs root (owners), the aws CLI, zstd,
and ../shared/tools (or --tools). Must not be imported by the product.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_TOOLS = REPO.parent / "shared" / "tools"
RESULTS = REPO / "bench" / "results" / "notebook_migration.json"
BUCKET = "notebook-snapshots"
ROLE = "arn:aws:iam::123456789012:role/notebook-role"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_for(condition: Any, what: str, timeout: float = 3600.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(what)
        time.sleep(0.05)
    return time.monotonic() - started


def scan(root: Path) -> dict[str, tuple[Any, ...]]:
    """relpath -> (type, mode, uid, gid, mtime_ns or link target, size, inode)."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            detail = os.readlink(path) if stat.S_ISLNK(st.st_mode) else st.st_mtime_ns
            found[os.path.relpath(path, root)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid,
                                                  st.st_gid, detail, st.st_size, st.st_ino)
    return found


def fidelity(expected: Path, actual: Path) -> dict[str, Any]:
    """What of `expected` survives in `actual`, property by property."""
    want, have = scan(expected), scan(actual)
    files = [r for r, e in want.items() if e[0] == stat.S_IFREG]
    links = [r for r, e in want.items() if e[0] == stat.S_IFLNK]

    def same_content(rel: str) -> bool:
        got = have.get(rel)
        if got is None or got[0] != stat.S_IFREG or got[5] != want[rel][5]:
            return False
        return _digest(expected / rel) == _digest(actual / rel)

    groups: dict[int, list[str]] = {}
    for rel in files:
        groups.setdefault(want[rel][6], []).append(rel)
    linked = [g for g in groups.values() if len(g) > 1]
    kept_groups = sum(1 for g in linked if all(r in have for r in g)
                      and len({have[r][6] for r in g}) == 1)

    def count(test: Any, items: list[str]) -> int:
        return sum(1 for r in items if r in have and test(want[r], have[r]))

    return {
        "files": len(files),
        "content_kept": sum(1 for r in files if same_content(r)),
        "owner_kept": count(lambda w, h: w[2:4] == h[2:4], files),
        "mode_kept": count(lambda w, h: w[1] == h[1], files),
        "mtime_ns_kept": count(lambda w, h: w[4] == h[4], files),
        "symlinks": len(links),
        "symlinks_kept_as_links": count(lambda w, h: h[0] == stat.S_IFLNK and w[4] == h[4],
                                        links),
        "hard_link_groups": len(linked),
        "hard_link_groups_kept": kept_groups,
        "entries_expected": len(want),
        "entries_found": len(have),
    }


def _digest(path: Path) -> bytes:
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def remapped_copy(source: Path, target: Path, mapping: dict[int, int]) -> Path:
    subprocess.run(["cp", "-a", "--sparse=always", f"{source}/.", str(target)], check=True)
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            os.lchown(path, mapping.get(st.st_uid, st.st_uid), mapping.get(st.st_gid, st.st_gid))
    return target


def give_to_ec2_user(volume: Path, uid: int = 500) -> None:
    """gentree's Studio owners (200001, 1000) become ec2-user's, as on a notebook volume."""
    for folder, dirs, files in os.walk(volume):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.lstat(path).st_uid != 0:
                os.lchown(path, uid, uid)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    from controller.emulator import start_emulator
    from controller.notebooks.render import NotebookScriptSettings, lifecycle_script

    # The emulator's dummy credentials; nothing here may reach AWS.
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    scratch = Path(tempfile.mkdtemp(prefix="nb-migration-", dir=args.dir))
    emu = start_emulator(scratch / "aws")
    try:
        url = emu.endpoint_url
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("iam", endpoint_url=url, region_name="us-east-1").create_role(
            RoleName="notebook-role", AssumeRolePolicyDocument="{}")
        sagemaker = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")

        def status(name: str) -> str:
            return str(sagemaker.describe_notebook_instance(
                NotebookInstanceName=name)["NotebookInstanceStatus"])

        def keys(prefix: str) -> list[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        script = lifecycle_script(NotebookScriptSettings(BUCKET, "bench", "research-notebook",
                                                         "us-east-1", level=args.level))
        sagemaker.create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName="migration",
            OnStart=[{"Content": base64.b64encode(script.encode()).decode()}])
        # The old instance, without the config yet: its volume gets the user's work first.
        sagemaker.create_notebook_instance(NotebookInstanceName="old", InstanceType="ml.t3.medium",
                                           RoleArn=ROLE, PlatformIdentifier="notebook-al1-v1")
        wait_for(lambda: status("old") == "InService", "old InService")
        volume = emu.notebook_folder("old") / "SageMaker"
        say(f"generating {args.files} entries, {args.mib} MiB in {volume}")
        generated = subprocess.run([sys.executable, str(args.tools / "gentree.py"), str(volume),
                                    "--files", str(args.files), "--total-mib", str(args.mib),
                                    "--seed", "7"], capture_output=True, text=True, check=True)
        give_to_ec2_user(volume)
        apparent = sum(e[5] for e in scan(volume).values() if e[0] == stat.S_IFREG)
        expected = remapped_copy(volume, scratch / "expected", {500: 1000})

        # -- the operator's way --------------------------------------------------------
        sagemaker.stop_notebook_instance(NotebookInstanceName="old")
        wait_for(lambda: status("old") == "Stopped", "old Stopped")
        sagemaker.update_notebook_instance(NotebookInstanceName="old",
                                           LifecycleConfigName="migration")
        wait_for(lambda: status("old") == "Stopped", "old updated")
        say("operator: starting the old instance (snapshot on start)")
        started = time.monotonic()
        sagemaker.start_notebook_instance(NotebookInstanceName="old")
        start_seconds = wait_for(lambda: status("old") == "InService", "old InService")
        wait_for(lambda: any(k.endswith("/COMPLETE") for k in keys("studio-snapshots/")),
                 "the snapshot's marker")
        snapshot_seconds = time.monotonic() - started
        manifest_key = next(k for k in keys("studio-snapshots/") if k.endswith("manifest.json"))
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
        say(f"operator: snapshot {manifest['id']} in {snapshot_seconds:.1f} s; restoring")
        started = time.monotonic()
        sagemaker.create_notebook_instance(
            NotebookInstanceName="new", InstanceType="ml.t3.medium", RoleArn=ROLE,
            PlatformIdentifier="notebook-al2-v3", LifecycleConfigName="migration",
            Tags=[{"Key": "studio-operator.io/restore-snapshot", "Value": manifest["id"]},
                  {"Key": "studio-operator.io/restore-owner-map", "Value": "500:1000"}])
        create_seconds = wait_for(lambda: status("new") == "InService", "new InService")
        wait_for(lambda: f"studio-snapshots/{manifest['id']}/restored/new"
                 in keys(f"studio-snapshots/{manifest['id']}/restored/"), "the restore's marker")
        restore_seconds = time.monotonic() - started
        # The new instance snapshots its volume once restored, and the old one may still be
        # working: both stopped (which ends their scripts) before s3 sync is timed, so that
        # nothing of the operator's way runs beside it.
        for name in ("old", "new"):
            sagemaker.stop_notebook_instance(NotebookInstanceName=name)
        for name in ("old", "new"):
            wait_for(lambda name=name: status(name) == "Stopped", f"{name} Stopped")
        new_volume = emu.notebook_folder("new") / "SageMaker"
        verified = subprocess.run([sys.executable, str(args.tools / "verify.py"), str(expected),
                                   str(new_volume), "--content"], capture_output=True, text=True)
        operator = {
            "snapshot_seconds": round(snapshot_seconds, 2),
            "restore_seconds": round(restore_seconds, 2),
            "total_seconds": round(snapshot_seconds + restore_seconds, 2),
            "old_start_returned_in_seconds": round(start_seconds, 2),
            "new_instance_in_service_in_seconds": round(create_seconds, 2),
            "archive_bytes": manifest["bytes_out"], "parts": len(manifest["parts"]),
            "compression": manifest["compression"],
            "verify_py": verified.stdout.strip().splitlines()[-1],
            "verify_py_exact": verified.returncode == 0,
            **fidelity(expected, new_volume),
        }

        # -- the write-ups' way: aws s3 sync up, then down ---------------------------------
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        synced = scratch / "s3-sync-target"
        synced.mkdir()
        say("aws s3 sync: up")
        started = time.monotonic()
        up = subprocess.run(["aws", "--endpoint-url", url, "s3", "sync", "--only-show-errors",
                             "--no-follow-symlinks", str(volume), f"s3://{BUCKET}/sync/"],
                            env=env,
                            capture_output=True, text=True)
        up_seconds = time.monotonic() - started
        say("aws s3 sync: down")
        started = time.monotonic()
        down = subprocess.run(["aws", "--endpoint-url", url, "s3", "sync", "--only-show-errors",
                               f"s3://{BUCKET}/sync/", str(synced)], env=env,
                              capture_output=True, text=True)
        down_seconds = time.monotonic() - started
        sync = {
            "up_seconds": round(up_seconds, 2), "down_seconds": round(down_seconds, 2),
            "total_seconds": round(up_seconds + down_seconds, 2),
            "up_exit": up.returncode, "down_exit": down.returncode,
            "errors": [line[:200] for line in
                       (up.stderr + down.stderr).strip().splitlines()[:5]],
            **fidelity(expected, synced),
        }
        return {
            "volume": {"entries": json.loads(generated.stdout or "{}"),
                       "apparent_bytes": apparent, "files_owner": "500:500 (ec2-user, AL1)"},
            "operator_migration": operator,
            "aws_s3_sync": sync,
            "speed_ratio_sync_over_operator": round(
                sync["total_seconds"] / operator["total_seconds"], 2),
            "aws_cli": subprocess.run(["aws", "--version"], capture_output=True,
                                      text=True).stdout.strip(),
            "machine": {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg()},
        }
    finally:
        emu.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--level", type=int, default=3, help="zstd level of the snapshot")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--dir", default=None, help="scratch folder's parent (default /tmp)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the volume's owners are part of what is measured")
    if not (args.tools / "gentree.py").exists():
        sys.exit(f"no gentree.py in {args.tools} (the reference tools, ../shared/tools)")
    if shutil.which("aws") is None:
        sys.exit("the aws CLI is needed (Debian: apt-get install awscli)")
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
