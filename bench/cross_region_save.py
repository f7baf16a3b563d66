"""Benchmark: failback's save of late writes across regions through S3, beside copying
the whole tree across.

On the local emulator, an old copy in us-west-2 and an active copy in us-east-1 (made
with /work/shared/tools/gentree.py, the active copy a `cp -a` of it), then a fraction of
the old copy's files changed (new content, new mtime). Measured in one run:

- relay: the product's save (controller.movers.regions.RegionalWorkers): three worker
  tasks (listing of the active copy, the old copy's differences as a snapshot, extraction
  into the recovery folder), each an emulated ECS task mounting only its own region's
  file system; time from the call to the report, bytes through S3 (listing + archive).
- whole tree: what a mover without a listing would send: the whole old copy as a
  snapshot (the same archiver and uploader) and its restore in the other region, in
  this process (no task start-up); time and bytes through S3.

Usage: python bench/cross_region_save.py [--files 10000] [--total-mib 200]
       [--changed 0.01] [--out bench/results/cross_region_save.json]
This file is a benchmark harness, never imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.emulator import start_emulator  # noqa: E402
from controller.fs.dirstack import OPEN_DIR  # noqa: E402
from controller.gateway import AwsGateway  # noqa: E402
from controller.movers import SaveJob, run_job  # noqa: E402
from controller.movers.regions import RegionalWorkers  # noqa: E402
from controller.snapshots.manifest import Source, share_source, stamp_of  # noqa: E402
from controller.snapshots.remap import OwnerPolicy  # noqa: E402
from controller.snapshots.restore import restore_snapshot  # noqa: E402
from controller.snapshots.snapshot import SnapshotRequest, take_snapshot  # noqa: E402
from tests.movers.conftest import make_region  # noqa: E402

GENTREE = Path("/work/shared/tools/gentree.py")


def change(root: Path, fraction: float, seed: int) -> int:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                   and p.stat().st_nlink == 1)
    chosen = random.Random(seed).sample(files, max(1, int(len(files) * fraction)))
    for path in chosen:
        with open(path, "ab") as handle:
            handle.write(b"written after the failover\n")
    return len(chosen)


def whole_tree(aws, old: Path, bucket: str, target: Path) -> dict[str, float]:
    """The whole old copy as a snapshot through S3, restored on the other side."""
    import boto3
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    started = time.monotonic()
    root = os.open(old, OPEN_DIR)
    try:
        request = SnapshotRequest(policy="bench", source_id=share_source(old.name),
                                  source=Source("share", old.name, old.name, "/",
                                                "us-west-2"),
                                  bucket=bucket, prefix="bench-whole",
                                  stamp=stamp_of(time.time()), revision="")
        manifest = take_snapshot(s3, None, request, old, root_fd=root)
    finally:
        os.close(root)
    target.mkdir(parents=True)
    into = os.open(target, OPEN_DIR)
    try:
        restored = restore_snapshot(s3, None, manifest, into, OwnerPolicy())
    finally:
        os.close(into)
    return {"seconds": round(time.monotonic() - started, 3),
            "bytes_through_s3": manifest.bytes_out, "files": restored.files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--total-mib", type=int, default=200)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "bench/results/cross_region_save.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-xr-") as scratch, \
            start_emulator(Path(scratch) / "aws") as aws:
        east, west = make_region(aws, "us-east-1", 1), make_region(aws, "us-west-2", 1)
        old, active = aws.efs_root / west.file_systems[0], aws.efs_root / east.file_systems[0]
        tree = json.loads(subprocess.run(
            [sys.executable, str(GENTREE), str(old), "--files", str(args.files),
             "--total-mib", str(args.total_mib), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True).stdout)
        subprocess.run(f"cp -a {old}/. {active}/", shell=True, check=True)
        changed = change(old, args.changed, args.seed)
        workers = RegionalWorkers(AwsGateway(endpoint_url=aws.endpoint_url),
                                  [east.mover(aws), west.mover(aws)])
        started = time.monotonic()
        report = run_job(SaveJob(old.name, active.name, "bench"), None, workers)
        relay_seconds = time.monotonic() - started
        assert report.ok and len(report.saved) >= changed, report
        whole = whole_tree(aws, old, east.settings.bucket, Path(scratch) / "whole")
    relay_bytes = int(report.extra["listing_bytes"]) + int(report.extra["archive_bytes"])
    result = {
        "tree": tree, "changed_files": changed, "load_average": os.getloadavg(),
        "relay": {"seconds": round(relay_seconds, 3), "bytes_through_s3": relay_bytes,
                  "listing_bytes": report.extra["listing_bytes"],
                  "archive_bytes": report.extra["archive_bytes"],
                  "saved_entries": len(report.saved), "saved_bytes": report.bytes,
                  "compared": report.compared, "worker_tasks": 3},
        "whole_tree": whole,
        "ratio_bytes_whole_to_relay": round(whole["bytes_through_s3"] / max(relay_bytes, 1), 1),
        "ratio_seconds_whole_to_relay": round(whole["seconds"] / relay_seconds, 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
