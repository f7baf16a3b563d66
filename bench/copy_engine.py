"""Benchmark the copy engine against `rsync -aH`, side by side, in one run.

(a) plain disk on tmpfs (/dev/shm): a gentree.py tree (20,000 files, ~1 GiB), full copy
    by both, throughput ratio (target: engine >= 2x rsync), verify.py --content of both.
(b) under latfs (1 ms per metadata op, 1 ms per mutation, like EFS/NFS) on a 5,000-file
    tree: full copy (target >= 15x rsync) and no-op re-run (target >= 10x rsync's no-op).

Each engine configuration runs --rounds times (a fresh target each round, every copy
checked with verify.py) and its median is compared; on tmpfs rsync runs as many rounds,
interleaved; under latfs rsync runs once (it waits on latency, not CPU: its time barely
moves, and each round takes about 100 s). The engine runs as its own process, like
rsync, so interpreter start-up is counted; its modules are byte-compiled once first (into
a temporary cache), as an installed package's are. Worker counts: the engine is tried
with several and the best median counts, on tmpfs as under latfs; every count's numbers
are in the report.

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
import statistics
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
        # Byte-code for the engine's modules, kept out of the checkout.
        self.pycache = self.base / "pycache"

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


class Engine:
    """Runs the engine as its own process, byte-compiled once first, as installing a
    package does (with PYTHONDONTWRITEBYTECODE set, every timed run would otherwise
    compile its modules from source)."""

    def __init__(self, pycache: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=str(pycache))
        subprocess.run([sys.executable, "-c", "import json, pathlib, controller.fs.copy"],
                       cwd=REPO, env=self.env, check=True)

    def run(self, src: Path, dst: Path, workers: int) -> tuple[float, dict[str, Any]]:
        seconds, result = timed([sys.executable, "-c", ENGINE, str(src), str(dst),
                                 str(workers)], cwd=REPO, env=self.env)
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


def median(values: list[float]) -> float:
    return statistics.median(values)


def all_equal(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """One verify.py summary for several copies: equal only if every one was."""
    bad = [check for check in checks if not check["equal"]]
    first = bad[0] if bad else checks[0]
    return {**first, "equal": not bad, "copies_checked": len(checks)}


def plain_disk(engine: Engine, tools: Path, scratch: Path, files: int, mib: int,
               workers: list[int], rounds: int) -> dict[str, Any]:
    src = scratch / "src"
    tree = generate(tools, src, files, mib)
    out: dict[str, Any] = {"tree": tree, "rounds": rounds, "engine": {}}
    rsync_times: list[float] = []
    rsync_checks: list[dict[str, Any]] = []
    runs: dict[int, dict[str, list[Any]]] = {
        count: {"seconds": [], "noop_seconds": [], "verify": []} for count in workers}
    reports: dict[int, dict[str, Any]] = {}
    for round_ in range(rounds):
        say(f"tmpfs round {round_ + 1}/{rounds}: rsync -aH full copy")
        rsync_times.append(run_rsync(src, scratch / "rsync"))
        rsync_checks.append(verify(tools, src, scratch / "rsync"))
        shutil.rmtree(scratch / "rsync")
        for count in workers:
            say(f"tmpfs round {round_ + 1}/{rounds}: engine full copy, {count} workers")
            target = scratch / f"engine-{count}"
            seconds, reports[count] = engine.run(src, target, count)
            noop, _ = engine.run(src, target, count)
            runs[count]["seconds"].append(seconds)
            runs[count]["noop_seconds"].append(noop)
            runs[count]["verify"].append(verify(tools, src, target))
            shutil.rmtree(target)
    out["rsync_seconds"] = median(rsync_times)
    out["rsync_rounds"] = rsync_times
    out["rsync_verify"] = all_equal(rsync_checks)
    for count, run in runs.items():
        seconds = median(run["seconds"])
        out["engine"][str(count)] = {
            "seconds": seconds, "rounds": run["seconds"],
            "noop_seconds": median(run["noop_seconds"]), "noop_rounds": run["noop_seconds"],
            "report": reports[count], "verify": all_equal(run["verify"]),
            "ratio_vs_rsync": out["rsync_seconds"] / seconds}
    best = max(out["engine"].values(), key=lambda run: run["ratio_vs_rsync"])
    out["best_ratio"] = best["ratio_vs_rsync"]
    out["target_ratio"] = 2.0
    out["target_met"] = best["ratio_vs_rsync"] >= 2.0 and best["verify"]["equal"]
    shutil.rmtree(src)
    return out


def under_latency(engine: Engine, tools: Path, scratch: Scratch, latfs: Path, files: int,
                  mib: int, workers: list[int], rounds: int) -> dict[str, Any]:
    backing_src, backing_dst = scratch.base / "lat-src", scratch.base / "lat-dst"
    tree = generate(tools, backing_src, files, mib)
    backing_dst.mkdir(parents=True)
    mnt_src, mnt_dst = scratch.base / "mnt-src", scratch.base / "mnt-dst"
    scratch.mount(latfs, backing_src, mnt_src)
    scratch.mount(latfs, backing_dst, mnt_dst)
    (mnt_dst / "rsync").mkdir()
    out: dict[str, Any] = {"tree": tree, "latency": LATENCY_OPTIONS, "rounds": rounds,
                           "engine": {}}
    # The engine goes first, with the colder caches.
    for count in workers:
        runs: dict[str, list[Any]] = {"seconds": [], "noop_seconds": [], "verify": [],
                                      "noop_files_copied": []}
        report: dict[str, Any] = {}
        for round_ in range(rounds):
            name = f"engine-{count}-{round_}"
            say(f"latfs round {round_ + 1}/{rounds}: engine full copy and no-op re-run, "
                f"{count} workers")
            seconds, report = engine.run(mnt_src, mnt_dst / name, count)
            noop, noop_report = engine.run(mnt_src, mnt_dst / name, count)
            runs["seconds"].append(seconds)
            runs["noop_seconds"].append(noop)
            runs["noop_files_copied"].append(noop_report["files_copied"])
            runs["verify"].append(verify(tools, backing_src, backing_dst / name))
            # Cleared through the mount first, so the kernel keeps no stale entries.
            os.rename(mnt_dst / name, mnt_dst / f"done-{name}")
            shutil.rmtree(backing_dst / f"done-{name}")
        out["engine"][str(count)] = {
            "seconds": median(runs["seconds"]), "rounds": runs["seconds"],
            "noop_seconds": median(runs["noop_seconds"]),
            "noop_rounds": runs["noop_seconds"],
            "noop_files_copied": max(runs["noop_files_copied"]),
            "report": report, "verify": all_equal(runs["verify"])}
    say("latfs: rsync -aH full copy (slow: about a minute)")
    out["rsync_seconds"] = run_rsync(mnt_src, mnt_dst / "rsync")
    say("latfs: rsync -aH no-op re-run")
    out["rsync_noop_seconds"] = run_rsync(mnt_src, mnt_dst / "rsync")
    out["rsync_verify"] = verify(tools, backing_src, backing_dst / "rsync")
    for run in out["engine"].values():
        run["full_ratio"] = out["rsync_seconds"] / run["seconds"]
        run["noop_ratio"] = out["rsync_noop_seconds"] / run["noop_seconds"]
    full_best = max(out["engine"], key=lambda count: out["engine"][count]["full_ratio"])
    noop_best = max(out["engine"], key=lambda count: out["engine"][count]["noop_ratio"])
    out["full_ratio"] = out["engine"][full_best]["full_ratio"]
    out["full_ratio_workers"] = int(full_best)
    out["noop_ratio"] = out["engine"][noop_best]["noop_ratio"]
    out["noop_ratio_workers"] = int(noop_best)
    out["targets"] = {"full_ratio": 15.0, "noop_ratio": 10.0}
    out["full_target_met"] = (out["full_ratio"] >= 15.0
                              and out["engine"][full_best]["verify"]["equal"])
    out["noop_target_met"] = (out["noop_ratio"] >= 10.0
                              and out["engine"][noop_best]["noop_files_copied"] == 0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small trees, for a smoke test")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--disk-workers", default=f"1,{os.cpu_count() or 1},4,16",
                        help="engine worker counts to try on tmpfs; default: 1, the "
                             "number of cores, 4 and 16 (%(default)s)")
    parser.add_argument("--latency-workers", default="32,64",
                        help="engine worker counts to try under latfs; default: "
                             "%(default)s")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each engine configuration (and of rsync on tmpfs); "
                             "medians are compared; default: %(default)s")
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
                               "rounds": args.rounds,
                               "rsync": subprocess.run(["rsync", "--version"],
                                                       capture_output=True, text=True
                                                       ).stdout.splitlines()[0]}
    try:
        latfs = build_latfs(args.tools, scratch.base)
        engine = Engine(scratch.pycache)
        results["plain_disk_tmpfs"] = plain_disk(
            engine, args.tools, scratch.base / "disk", *disk, _counts(args.disk_workers),
            args.rounds)
        results["latfs"] = under_latency(engine, args.tools, scratch, latfs, *latency,
                                         _counts(args.latency_workers), args.rounds)
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
    print(f"latfs full copy: rsync {lat['rsync_seconds']:.2f}s; " + "; ".join(
        f"engine/{w} {r['seconds']:.2f}s ({r['full_ratio']:.1f}x, verify "
        f"{'ok' if r['verify']['equal'] else 'FAILED'})" for w, r in lat["engine"].items())
        + f"; rsync verify {'ok' if lat['rsync_verify']['equal'] else 'FAILED'}"
        + f"; target 15x {'met' if lat['full_target_met'] else 'NOT met'}")
    print(f"latfs no-op: rsync {lat['rsync_noop_seconds']:.2f}s; " + "; ".join(
        f"engine/{w} {r['noop_seconds']:.2f}s ({r['noop_ratio']:.1f}x)"
        for w, r in lat["engine"].items())
        + f"; target 10x {'met' if lat['noop_target_met'] else 'NOT met'}")
    print(f"results: {RESULTS}")
    met = disk_out["target_met"] and lat["full_target_met"] and lat["noop_target_met"]
    return 0 if met else 1


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    return list(dict.fromkeys(counts))  # in order, without repeats


if __name__ == "__main__":
    sys.exit(main())
