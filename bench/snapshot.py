"""Benchmark snapshots and restores through S3, side by side in one run, and choose the
archiver by measurement.

Decision (measured: bench/results/snapshot.json, 2 cores shared, 1 GiB / 20,000-file
gentree.py tree on tmpfs, the local emulator's S3; see README "Snapshots"): the product
keeps GNU tar as a subprocess and compresses its stream in-process with the zstandard
library on zstd's worker threads (controller/snapshots/archiver.py; a `zstd` subprocess
between them cost a pipe and ~1 CPU-second more). Python's tarfile with the zstandard
library was measured beside it and loses on two counts: it cannot write sparse files (a
hole is stored and restored as zeros, a property the format must keep) and it is
slower, its per-entry work holding the interpreter that the upload threads also need.
The numbers of the last run are in the report and README.

What runs (each operation in a process of its own, bench/snapshot_worker.py, so that
its peak memory is its own; the emulator runs in this process):

  snapshots   tar -cf - | pigz -6 | upload        (reference)
              tar -cf - | zstd -T0 -3 | upload    (reference)
              the product, unencrypted and with a KMS data key (AES-256-GCM frames,
              sealed on the upload threads)
              candidate 2: Python tarfile + zstandard (bench/snapshot_tarfile.py)
  restores    download | zstd -d | tar -x         (reference, of the zstd object)
              the product, unencrypted and encrypted: verified parts, the zstandard
              library, the no-follow extractor, staged then renamed into place
              the same with `zstd -d` as a subprocess fed through pipes (the
              alternative for decompressing)
              candidate 2's archive, restored by the product
  archivers   each archiver alone into nothing, no upload (pigz, zstd, the product)

Uploads all go through the product's MultipartWriter with the same S3 client settings;
downloads through the same client. Every restore of the first round is compared with
the source by ../shared/tools/verify.py --content. A small tree with a sparse file, a
user xattr, an ACL, a hard link, a symlink, an empty directory and a FIFO is taken and
restored by both candidates, and each property checked. Operations rotate order each
round; medians count.

Targets (issue 10): snapshot >= 5x the throughput of tar|pigz and >= 0.8x tar|zstd;
restore at least as fast as zstd -d|tar -x; peak RSS under 200 MB (the Python process
and its children, sampled) for snapshot and restore; encrypted within 15% of unencrypted.

Writes bench/results/snapshot.json; --quick makes the tree small. Needs root (owners),
tar, zstd and pigz (apt-get install -y zstd pigz), the zstandard package (the test extra)
and ../shared/tools (or --tools). Everything lives in a temporary folder on /dev/shm,
removed at the end. It must not be imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_TOOLS = REPO.parent / "shared" / "tools"
RESULTS = REPO / "bench" / "results" / "snapshot.json"
WORKER = REPO / "bench" / "snapshot_worker.py"
BUCKET, PREFIX = "bench-snapshots", "snapshots"
SNAPSHOTS = ("pigz", "zstd", "ours", "ours-kms", "python")
# What each snapshot is restored by ("cli": the product with `zstd -d` as a subprocess).
RESTORED_BY = {"pigz": (), "zstd": ("zstd",), "ours": ("ours", "cli"),
               "ours-kms": ("ours-kms",), "python": ("python",)}
RESTORES = ("zstd", "ours", "cli", "ours-kms", "python")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, base: Path, tools: Path) -> None:
        from controller.emulator import start_emulator

        self.base, self.tools = base, tools
        # The emulator's dummy credentials; nothing here may reach AWS.
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                          AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
                          AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                          AWS_EC2_METADATA_DISABLED="true")
        self.mount = base / "mount"
        self.src = self.mount / "home/bench/tree"
        self.props = self.mount / "home/bench/props"
        spool = base / "spool"
        spool.mkdir()
        os.environ["TMPDIR"] = str(spool)  # moto spools large objects: keep them on tmpfs
        tempfile.tempdir = str(spool)
        self.emulator = start_emulator(base / "aws")
        import boto3

        self.s3 = boto3.client("s3", region_name="us-east-1",
                               endpoint_url=self.emulator.endpoint_url)
        self.s3.create_bucket(Bucket=BUCKET)
        kms = boto3.client("kms", region_name="us-east-1",
                           endpoint_url=self.emulator.endpoint_url)
        key = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/bench-snapshots", TargetKeyId=key)
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=str(base / "pycache"))
        self.stamp = 0

    def close(self) -> None:
        self.emulator.stop()

    def worker(self, operation: str, **args: Any) -> dict[str, Any]:
        args["endpoint"] = self.emulator.endpoint_url
        done = subprocess.run([sys.executable, str(WORKER), operation, json.dumps(args)],
                              cwd=REPO, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{operation} failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def snapshot(self, kind: str, path: str) -> dict[str, Any]:
        self.stamp += 1
        stamp = time.strftime("20260101T%H%M%SZ", time.gmtime(self.stamp))
        common = {"bucket": BUCKET, "prefix": PREFIX, "stamp": stamp, "path": path,
                  "mount": str(self.mount)}
        source = self.mount / path.strip("/")
        if kind in ("pigz", "zstd"):
            compressor = "pigz -6" if kind == "pigz" else "zstd -T0 -3 -q"
            key = f"{PREFIX}/reference/{kind}-{self.stamp}.tar"
            out = self.worker("pipe-snapshot", bucket=BUCKET, key=key,
                              pipeline=f"tar -cf - -C {source} . | {compressor}")
            out["key"] = key
            return out
        if kind == "python":
            return self.worker("python-snapshot", **common)
        return self.worker("ours-snapshot", **common,
                           kms_key="alias/bench-snapshots" if kind == "ours-kms" else None)

    def restore(self, kind: str, made: dict[str, Any], target: Path) -> tuple[dict[str, Any], Path]:
        target.mkdir(parents=True)
        if kind == "zstd":
            out = self.worker("pipe-restore", bucket=BUCKET, key=made["key"],
                              pipeline=f"zstd -d -q | tar -x -C {target}")
            return out, target
        operation = {"python": "python-restore", "cli": "cli-restore"}.get(kind, "ours-restore")
        out = self.worker(operation, manifest=made["manifest"], target=str(target))
        return out, target / out["placed_in"]

    def forget(self, made: dict[str, Any]) -> None:
        """Delete a snapshot's objects (the emulator holds them in memory or spool)."""
        keys = [made["key"]] if "key" in made else []
        if "manifest" in made:
            manifest = json.loads(made["manifest"])
            keys += [manifest["archive_key"], f"{PREFIX}/{manifest['id']}/manifest.json"]
        for key in keys:
            self.s3.delete_object(Bucket=BUCKET, Key=key)

    def verify(self, src: Path, dst: Path) -> dict[str, Any]:
        done = subprocess.run([sys.executable, str(self.tools / "verify.py"), str(src),
                               str(dst), "--content"], capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        return {"equal": done.returncode == 0, "summary": lines[-1] if lines else "",
                "first_mismatches": lines[:-1][:5]}


def make_property_tree(root: Path) -> None:
    root.mkdir(parents=True)
    with open(root / "sparse.bin", "wb") as out:
        out.seek(64 << 20)
        out.write(b"end")
    (root / "xattr.txt").write_text("x")
    os.setxattr(root / "xattr.txt", "user.origin", b"notebook")
    (root / "acl.txt").write_text("a")
    subprocess.run(["setfacl", "-m", "u:4242:r", str(root / "acl.txt")], check=True)
    (root / "linked.txt").write_text("l")
    os.link(root / "linked.txt", root / "linked-again.txt")
    (root / "link").symlink_to("linked.txt")
    (root / "empty").mkdir()
    os.mkfifo(root / "pipe")
    os.chown(root / "xattr.txt", 200001, 1001)
    os.utime(root / "xattr.txt", ns=(1_600_000_000_123_456_789,) * 2)


def check_properties(src: Path, out: Path) -> dict[str, bool]:
    sparse = (out / "sparse.bin").stat()
    acl = subprocess.run(["getfacl", "-n", "-c", str(out / "acl.txt")], capture_output=True,
                         text=True).stdout
    return {
        "sparse_stays_sparse": sparse.st_size == (64 << 20) + 3
        and sparse.st_blocks * 512 < (1 << 20),
        "user_xattrs": os.getxattr(out / "xattr.txt", "user.origin") == b"notebook",
        "posix_acls": "user:4242:r--" in acl,
        "hard_links": (out / "linked.txt").stat().st_ino
        == (out / "linked-again.txt").stat().st_ino,
        "symlinks": (out / "link").is_symlink() and os.readlink(out / "link") == "linked.txt",
        "empty_directories": (out / "empty").is_dir(),
        "owners": (out / "xattr.txt").stat().st_uid == 200001,
        "nanosecond_mtimes": (out / "xattr.txt").stat().st_mtime_ns
        == (src / "xattr.txt").stat().st_mtime_ns,
        "fifos": (out / "pipe").is_fifo(),
    }


def run(bench: Bench, rounds: int) -> dict[str, Any]:
    snap: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SNAPSHOTS}
    rest: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RESTORES}
    verified: dict[str, dict[str, Any]] = {}
    for round_ in range(rounds):
        order = SNAPSHOTS[round_ % len(SNAPSHOTS):] + SNAPSHOTS[:round_ % len(SNAPSHOTS)]
        for kind in order:
            say(f"round {round_ + 1}/{rounds}: snapshot {kind}")
            made = bench.snapshot(kind, "/home/bench/tree")
            snap[kind].append(made)
            for restorer in RESTORED_BY[kind]:
                say(f"round {round_ + 1}/{rounds}: restore {restorer}")
                target = bench.base / "restore" / f"{restorer}-{round_}"
                out, placed = bench.restore(restorer, made, target)
                rest[restorer].append(out)
                if round_ == 0:
                    verified[restorer] = bench.verify(bench.src, placed)
                subprocess.run(["rm", "-rf", str(target)], check=True)
            bench.forget(made)
    return {"snapshots": snap, "restores": rest, "verify": verified}


def archive_only(bench: Bench, tree_bytes: int) -> dict[str, Any]:
    """The archivers alone, into nothing (no upload): what a snapshot would cost if the
    upload (the emulator's S3, the same for every candidate) were free."""
    source = bench.src
    runs = {"pigz": {"pipeline": f"tar -cf - -C {source} . | pigz -6"},
            "zstd": {"pipeline": f"tar -cf - -C {source} . | zstd -T0 -3 -q"},
            "ours": {"mount": str(bench.mount), "path": "/home/bench/tree"}}
    out = {}
    for kind, args in runs.items():
        say(f"archive only (no upload): {kind}")
        seconds = bench.worker("archive-only", **args)["seconds"]
        out[kind] = {"seconds": seconds, "throughput_mib_s": tree_bytes / seconds / (1 << 20)}
    out["ours_vs_pigz"] = out["pigz"]["seconds"] / out["ours"]["seconds"]
    out["ours_vs_zstd"] = out["zstd"]["seconds"] / out["ours"]["seconds"]
    return out


def properties(bench: Bench) -> dict[str, dict[str, bool]]:
    make_property_tree(bench.props)
    found = {}
    for kind in ("ours", "python"):
        made = bench.snapshot(kind, "/home/bench/props")
        _, placed = bench.restore(kind, made, bench.base / "props-restore" / kind)
        found["gnu-tar+zstd" if kind == "ours" else "tarfile+zstandard"] = check_properties(
            bench.props, placed)
        bench.forget(made)
    return found


def summarise(measured: dict[str, Any], tree_bytes: int) -> dict[str, Any]:
    def med(runs: list[dict[str, Any]], field: str = "seconds") -> float:
        return statistics.median(r[field] for r in runs)

    snaps = {kind: {"seconds": med(runs), "rounds": [r["seconds"] for r in runs],
                    "spread_seconds": [min(r["seconds"] for r in runs),
                                       max(r["seconds"] for r in runs)],
                    "throughput_mib_s": tree_bytes / med(runs) / (1 << 20),
                    "stored_bytes": runs[0]["bytes_out"],
                    "rss_self_mib": max(r["rss_self_hwm_mib"] for r in runs),
                    "rss_peak_total_mib": max(r["rss_peak_total_mib"] for r in runs)}
             for kind, runs in measured["snapshots"].items()}
    rests = {kind: {"seconds": med(runs), "rounds": [r["seconds"] for r in runs],
                    "spread_seconds": [min(r["seconds"] for r in runs),
                                       max(r["seconds"] for r in runs)],
                    "throughput_mib_s": tree_bytes / med(runs) / (1 << 20),
                    "rss_self_mib": max(r["rss_self_hwm_mib"] for r in runs),
                    "rss_peak_total_mib": max(r["rss_peak_total_mib"] for r in runs),
                    "verify": measured["verify"].get(kind)}
             for kind, runs in measured["restores"].items()}
    ours_rss = max(max(s["rss_peak_total_mib"], s["rss_self_mib"])
                   for s in (snaps["ours"], snaps["ours-kms"], rests["ours"], rests["ours-kms"]))
    ratios = {
        "snapshot_vs_pigz": snaps["pigz"]["seconds"] / snaps["ours"]["seconds"],
        "snapshot_vs_zstd": snaps["zstd"]["seconds"] / snaps["ours"]["seconds"],
        "restore_vs_zstd_tar": rests["zstd"]["seconds"] / rests["ours"]["seconds"],
        "encrypted_snapshot_overhead": snaps["ours-kms"]["seconds"] / snaps["ours"]["seconds"] - 1,
        "encrypted_restore_overhead": rests["ours-kms"]["seconds"] / rests["ours"]["seconds"] - 1,
        "python_candidate_snapshot_vs_ours": snaps["ours"]["seconds"] / snaps["python"]["seconds"],
        "restore_zstandard_library_vs_zstd_subprocess": (rests["cli"]["seconds"]
                                                          / rests["ours"]["seconds"]),
        "ours_peak_rss_mib": ours_rss,
    }
    targets = {
        "snapshot_vs_pigz >= 5": ratios["snapshot_vs_pigz"] >= 5,
        "snapshot_vs_zstd >= 0.8": ratios["snapshot_vs_zstd"] >= 0.8,
        "restore_vs_zstd_tar >= 1": ratios["restore_vs_zstd_tar"] >= 1,
        "peak RSS < 200 MB": ours_rss * (1 << 20) < 200e6,
        "encrypted within 15%": ratios["encrypted_snapshot_overhead"] <= 0.15,
        "restores exact (verify.py --content)": all(
            rests[k]["verify"] and rests[k]["verify"]["equal"] for k in ("ours", "ours-kms")),
    }
    return {"snapshots": snaps, "restores": rests, "ratios": ratios, "targets": targets}


def writer_settings() -> dict[str, Any]:
    """What bounds the product's upload memory: parts of this size, this many in flight."""
    from controller.snapshots import archiver, s3stream

    return {"part_size_mib": s3stream.PART_SIZE >> 20, "parts_in_flight": s3stream.IN_FLIGHT,
            "part_buffers_plain": s3stream.IN_FLIGHT + 1,
            "part_buffers_sealed": s3stream.IN_FLIGHT + 2,
            "zstd_job_mib": archiver.ZSTD_JOB >> 20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small tree, for a smoke test")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    missing = [name for name in ("gentree.py", "verify.py") if not (args.tools / name).exists()]
    missing += [tool for tool in ("tar", "zstd", "pigz", "setfacl") if not shutil.which(tool)]
    if missing or os.geteuid() != 0:
        print(f"needs root, ../shared/tools and tar/zstd/pigz/setfacl; missing: {missing}; "
              "nothing was measured", file=sys.stderr)
        return 2
    files, mib = (2_000, 64) if args.quick else (20_000, 1024)
    base = Path(tempfile.mkdtemp(prefix="snapshot-bench-", dir="/dev/shm"))
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    results: dict[str, Any] = {"quick": args.quick, "cores": os.cpu_count(),
                               "rounds": args.rounds, "tools": {
                                   tool: subprocess.run([tool, "--version"], capture_output=True,
                                                        text=True).stdout.splitlines()[0]
                                   for tool in ("tar", "zstd", "pigz")}}
    bench = None
    try:
        bench = Bench(base, args.tools)
        say(f"generating {files} files / {mib} MiB")
        tree = json.loads(subprocess.run(
            [sys.executable, str(args.tools / "gentree.py"), str(bench.src), "--files",
             str(files), "--total-mib", str(mib)], capture_output=True, text=True,
            check=True).stdout)
        tree_bytes = int(subprocess.run(["du", "-sb", "--apparent-size", str(bench.src)],
                                        capture_output=True, text=True,
                                        check=True).stdout.split()[0])
        results["tree"] = {**tree, "apparent_bytes": tree_bytes}
        results["properties"] = properties(bench)
        results["archive_only"] = archive_only(bench, tree_bytes)
        results["load_average_before"] = os.getloadavg()
        results["writer"] = writer_settings()
        results["measured"] = summarise(run(bench, args.rounds), tree_bytes)
        # Other work shares the machine: the ratios within this run are what count.
        results["load_average_after"] = os.getloadavg()
    finally:
        if bench is not None:
            bench.close()
        subprocess.run(["rm", "-rf", "--one-file-system", str(base)], check=False)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    measured = results["measured"]
    for kind, row in measured["snapshots"].items():
        print(f"snapshot {kind:9} {row['seconds']:7.2f}s {row['throughput_mib_s']:7.1f} MiB/s "
              f"stored {row['stored_bytes'] / (1 << 20):7.1f} MiB  rss {row['rss_self_mib']:.0f}"
              f" MiB, with children {row['rss_peak_total_mib']:.0f} MiB")
    for kind, row in measured["restores"].items():
        check = row["verify"]["equal"] if row["verify"] else None
        print(f"restore  {kind:9} {row['seconds']:7.2f}s {row['throughput_mib_s']:7.1f} MiB/s "
              f"rss {row['rss_self_mib']:.0f} MiB, with children "
              f"{row['rss_peak_total_mib']:.0f} MiB "
              f"verify {'ok' if check else 'FAILED' if check is False else '-'}")
    local = results["archive_only"]
    print("archive only (no upload): " + ", ".join(
        f"{k} {v['seconds']:.2f}s" for k, v in local.items() if isinstance(v, dict))
        + f"; ours vs pigz {local['ours_vs_pigz']:.2f}x, vs zstd {local['ours_vs_zstd']:.2f}x")
    for name, value in measured["ratios"].items():
        print(f"{name}: {value:.3f}")
    for name, met in measured["targets"].items():
        print(f"target {name}: {'met' if met else 'NOT met'}")
    for candidate, props in results["properties"].items():
        print(f"{candidate}: " + ", ".join(f"{k} {'yes' if v else 'NO'}"
                                           for k, v in props.items()))
    print(f"load average before {results['load_average_before']}, "
          f"after {results['load_average_after']}")
    print(f"results: {RESULTS}")
    return 0 if all(measured["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
