"""Benchmark the copy engine against `rsync -aH`, side by side, in one run.

(a) plain disk on tmpfs (/dev/shm): a gentree.py tree (20,000 files, ~1 GiB), full copy
    by both, throughput ratio (target: engine >= 2x rsync), verify.py --content of both.
(b) under latfs (1 ms per metadata op, 1 ms per mutation, like EFS/NFS) on a 5,000-file
    tree: full copy (target >= 15x rsync) and no-op re-run (target >= 10x rsync's no-op).

Writes bench/results/copy_engine.json; --quick makes the trees small. Needs root (owners,
FUSE), rsync, gcc and libfuse3 (apt-get install -y rsync libfuse3-dev fuse3 pkg-config),
and the reference tools in ../shared/tools (or --tools). It builds latfs into a temporary
folder and removes every mount and temporary file at the end, also on failure. It must
not be imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TOOLS = REPO.parent / "shared" / "tools"
RESULTS = REPO / "bench" / "results" / "copy_engine.json"
LATENCY_OPTIONS = "meta_us=1000,mut_us=1000,data_us=0"
# The engine runs as its own process, like rsync, so interpreter start-up is counted.
ENGINE = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from controller.fs.copy import copy_tree\n"
    "r = copy_tree(Path(sys.argv[1]), Path(sys.argv[2]), workers=int(sys.argv[3]))\n"
    "print(json.dumps({k: v for k, v in r.to_dict().items() if k not in "
    "('conflicts', 'errors')} | {'errors': len(r.errors), 'conflicts': len(r.conflicts)}))\n"
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Scratch:
    """Temporary folders on tmpfs and latfs mounts, all removed by close()."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="copy-bench-", dir="/dev/shm"))
        self.mounts: list[tuple[Path, subprocess.Popen[bytes]]] = []

    def mount(self, latfs: Path, backing: Path, point: Path) -> None:
        point.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [str(latfs), str(backing), str(point), "-f", "-o",
             f"allow_other,default_permissions,max_threads=64,{LATENCY_OPTIONS}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.mounts.append((point, process))
        deadline = time.monotonic() + 10
        while not os.path.ismount(point):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"latfs did not mount {point}")
            time.sleep(0.05)

    def close(self) -> None:
        for point, process in reversed(self.mounts):
            subprocess.run(["fusermount3", "-u", str(point)], capture_output=True)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()  # only the latfs we started, by its own handle
        self.mounts.clear()
        shutil.rmtree(self.base, ignore_errors=True)


def timed(argv: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed, result


def run_engine(src: Path, dst: Path, workers: int) -> tuple[float, dict[str, Any]]:
    seconds, result = timed([sys.executable, "-c", ENGINE, str(src), str(dst), str(workers)],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(result.stdout)
    if report["errors"] or report["conflicts"]:
        raise RuntimeError(f"the engine reported problems: {report}")
    return seconds, report


def run_rsync(src: Path, dst: Path) -> float:
    return timed(["rsync", "-aH", f"{src}/", f"{dst}/"])[0]


def verify(tools: Path, src: Path, dst: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, str(tools / "verify.py"), str(src), str(dst),
                             "--content"], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    return {"equal": result.returncode == 0, "summary": lines[-1] if lines else "",
            "first_mismatches": lines[:-1][:5]}


def generate(tools: Path, out: Path, files: int, mib: int) -> dict[str, Any]:
    say(f"generating {files} files / {mib} MiB in {out}")
    _, result = timed([sys.executable, str(tools / "gentree.py"), str(out), "--files",
                       str(files), "--total-mib", str(mib)])
    return json.loads(result.stdout)


def build_latfs(tools: Path, into: Path) -> Path:
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True, check=True).stdout.split()
    binary = into / "latfs"
    timed(["gcc", "-O2", "-Wall", str(tools / "latfs.c"), *flags, "-o", str(binary)])
    return binary


def plain_disk(tools: Path, scratch: Path, files: int, mib: int, workers: list[int]) -> dict:
    tree = generate(tools, scratch / "src", files, mib)
    out: dict[str, Any] = {"tree": tree, "engine": {}}
    say("tmpfs: rsync -aH full copy")
    out["rsync_seconds"] = run_rsync(scratch / "src", scratch / "rsync")
    out["rsync_verify"] = verify(tools, scratch / "src", scratch / "rsync")
    for count in workers:
        say(f"tmpfs: engine full copy, {count} workers")
        target = scratch / f"engine-{count}"
        seconds, report = run_engine(scratch / "src", target, count)
        noop, _ = run_engine(scratch / "src", target, count)
        out["engine"][str(count)] = {
            "seconds": seconds, "noop_seconds": noop, "report": report,
            "verify": verify(tools, scratch / "src", target),
            "ratio_vs_rsync": out["rsync_seconds"] / seconds}
        shutil.rmtree(target)
    best = max(out["engine"].values(), key=lambda run: run["ratio_vs_rsync"])
    out["best_ratio"] = best["ratio_vs_rsync"]
    out["target_ratio"] = 2.0
    out["target_met"] = best["ratio_vs_rsync"] >= 2.0 and best["verify"]["equal"]
    shutil.rmtree(scratch / "src")
    shutil.rmtree(scratch / "rsync")
    return out


def under_latency(tools: Path, scratch: Scratch, latfs: Path, files: int, mib: int,
                  workers: int) -> dict[str, Any]:
    backing_src, backing_dst = scratch.base / "lat-src", scratch.base / "lat-dst"
    tree = generate(tools, backing_src, files, mib)
    for name in ("rsync", "engine"):
        (backing_dst / name).mkdir(parents=True)
    mnt_src, mnt_dst = scratch.base / "mnt-src", scratch.base / "mnt-dst"
    scratch.mount(latfs, backing_src, mnt_src)
    scratch.mount(latfs, backing_dst, mnt_dst)
    out: dict[str, Any] = {"tree": tree, "latency": LATENCY_OPTIONS, "workers": workers}
    # The engine goes first, with the colder caches.
    say(f"latfs: engine full copy, {workers} workers")
    out["engine_seconds"], out["engine_report"] = run_engine(mnt_src, mnt_dst / "engine",
                                                             workers)
    say("latfs: engine no-op re-run")
    out["engine_noop_seconds"], noop = run_engine(mnt_src, mnt_dst / "engine", workers)
    out["engine_noop_files_copied"] = noop["files_copied"]
    say("latfs: rsync -aH full copy (slow: about a minute)")
    out["rsync_seconds"] = run_rsync(mnt_src, mnt_dst / "rsync")
    say("latfs: rsync -aH no-op re-run")
    out["rsync_noop_seconds"] = run_rsync(mnt_src, mnt_dst / "rsync")
    out["engine_verify"] = verify(tools, backing_src, backing_dst / "engine")
    out["rsync_verify"] = verify(tools, backing_src, backing_dst / "rsync")
    out["full_ratio"] = out["rsync_seconds"] / out["engine_seconds"]
    out["noop_ratio"] = out["rsync_noop_seconds"] / out["engine_noop_seconds"]
    out["targets"] = {"full_ratio": 15.0, "noop_ratio": 10.0}
    out["full_target_met"] = out["full_ratio"] >= 15.0 and out["engine_verify"]["equal"]
    out["noop_target_met"] = out["noop_ratio"] >= 10.0
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small trees, for a smoke test")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--disk-workers", default="4,16",
                        help="engine worker counts to try on tmpfs; default: %(default)s")
    parser.add_argument("--latency-workers", type=int, default=64)
    args = parser.parse_args()
    missing = [name for name in ("gentree.py", "verify.py", "latfs.c")
               if not (args.tools / name).exists()]
    if missing:
        print(f"benchmark tools missing in {args.tools}: {', '.join(missing)}; "
              "nothing was measured", file=sys.stderr)
        return 2
    if os.geteuid() != 0 or not shutil.which("rsync"):
        print("needs root (owners, FUSE) and rsync", file=sys.stderr)
        return 2
    disk = (2_000, 64) if args.quick else (20_000, 1024)
    latency = (500, 20) if args.quick else (5_000, 200)
    scratch = Scratch()
    # SIGTERM/SIGHUP also clean up (via the finally below), not only Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    results: dict[str, Any] = {"quick": args.quick, "cores": os.cpu_count(),
                               "rsync": subprocess.run(["rsync", "--version"],
                                                       capture_output=True, text=True
                                                       ).stdout.splitlines()[0]}
    try:
        latfs = build_latfs(args.tools, scratch.base)
        results["plain_disk_tmpfs"] = plain_disk(
            args.tools, scratch.base / "disk", *disk,
            [int(w) for w in args.disk_workers.split(",")])
        results["latfs"] = under_latency(args.tools, scratch, latfs, *latency,
                                         args.latency_workers)
    finally:
        scratch.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    disk_out, lat = results["plain_disk_tmpfs"], results["latfs"]
    print(f"tmpfs full copy: rsync {disk_out['rsync_seconds']:.2f}s; " + "; ".join(
        f"engine/{w} {r['seconds']:.2f}s ({r['ratio_vs_rsync']:.2f}x, verify "
        f"{'ok' if r['verify']['equal'] else 'FAILED'})" for w, r in disk_out["engine"].items())
        + f"; rsync verify {'ok' if disk_out['rsync_verify']['equal'] else 'FAILED'}"
        + f"; target 2x {'met' if disk_out['target_met'] else 'NOT met'}")
    print(f"latfs full copy: rsync {lat['rsync_seconds']:.2f}s, engine "
          f"{lat['engine_seconds']:.2f}s ({lat['full_ratio']:.1f}x; target 15x "
          f"{'met' if lat['full_target_met'] else 'NOT met'}); verify engine "
          f"{'ok' if lat['engine_verify']['equal'] else 'FAILED'}, rsync "
          f"{'ok' if lat['rsync_verify']['equal'] else 'FAILED'}")
    print(f"latfs no-op: rsync {lat['rsync_noop_seconds']:.2f}s, engine "
          f"{lat['engine_noop_seconds']:.2f}s ({lat['noop_ratio']:.1f}x; target 10x "
          f"{'met' if lat['noop_target_met'] else 'NOT met'})")
    print(f"results: {RESULTS}")
    met = disk_out["target_met"] and lat["full_target_met"] and lat["noop_target_met"]
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
