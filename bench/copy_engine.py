"""Benchmark the copy engine at its defaults against cp -a, rsync -aH and tar, side by side.

(a) Plain disk, on tmpfs (/dev/shm; the root file system here costs ~1 ms per create and
    distorts every ratio): a gentree.py tree of 20,000 files / 1 GiB. Targets: the engine
    at least as fast as `cp -a` and 2x `rsync -aH`.
(b) Under latfs (1 ms per metadata operation and per mutation, like EFS/NFS) on a
    5,000-file tree. Targets: full copy at least 25x rsync -aH; no-op re-run at least 10x
    rsync's no-op, both with cold caches: the two latfs mounts are unmounted and mounted
    again before every timed run, which drops the kernel's dentries, attributes and page
    cache of both sides (drop_caches is not writable in this container; tmpfs has no
    cache to drop: its pages are the data).

Every run of every method is timed as its own process (the engine too, so interpreter
start-up counts; its modules byte-compiled once first, as an installed package's are)
and every copy is checked against the source (copy_verify.py: what verify.py --content
checks; tar's copies with whole-second mtimes, all its default format keeps). Each round
runs every method once, in an order rotated from round to round; ratios are taken per
round (same round, similar load) and reported as median, min and max with the times.
The engine runs at its defaults (it chooses its worker count); --disk-workers and
--latency-workers add fixed counts beside it, for comparison only.

Writes bench/results/copy_engine.json. Needs root (owners, FUSE), rsync, gcc and
libfuse3 (apt-get install -y rsync libfuse3-dev fuse3 pkg-config) and the reference
tools in ../shared/tools (or --tools). Builds latfs into a temporary folder; removes
every mount and temporary file at the end, also on failure. Not imported by the product.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from copy_verify import Tree, compare, scan

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TOOLS = REPO.parent / "shared" / "tools"
RESULTS = REPO / "bench" / "results" / "copy_engine.json"
LATENCY_OPTIONS = "meta_us=1000,mut_us=1000,data_us=0"
TAR_SECONDS = 1_000_000_000  # tar's default format keeps whole-second mtimes
# The engine runs as its own process, like the others, so interpreter start-up is counted.
ENGINE = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from controller.fs.copy import copy_tree\n"
    "w = int(sys.argv[3]) or None\n"
    "r = copy_tree(Path(sys.argv[1]), Path(sys.argv[2]), workers=w)\n"
    "print(json.dumps({k: v for k, v in r.to_dict().items() if k not in "
    "('conflicts', 'errors')} | {'errors': len(r.errors), 'conflicts': len(r.conflicts)}))\n"
)
DEFAULT = "engine"  # the engine at its defaults; "engine-N": N workers set
# CPU seconds (user + system) of the last timed process and its children: on a busy
# machine a process gets a share of the cores, so its time follows its CPU.
last_cpu_seconds = 0.0


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Scratch:
    """Temporary folders on tmpfs and two latfs mounts, all removed by close()."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="copy-bench-", dir="/dev/shm"))
        self.mounts: dict[Path, tuple[Path, subprocess.Popen[bytes]]] = {}
        self.pycache = self.base / "pycache"  # the engine's byte-code, out of the checkout
        self.latfs: Path | None = None

    def mount(self, backing: Path, point: Path) -> None:
        assert self.latfs is not None
        point.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [str(self.latfs), str(backing), str(point), "-f", "-o",
             f"allow_other,default_permissions,max_threads=64,{LATENCY_OPTIONS}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.mounts[point] = (backing, process)
        deadline = time.monotonic() + 10
        while not os.path.ismount(point):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"latfs did not mount {point}")
            time.sleep(0.02)

    def unmount(self, point: Path) -> None:
        _, process = self.mounts.pop(point)
        subprocess.run(["fusermount3", "-u", str(point)], capture_output=True)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()  # only the latfs we started, by its own handle

    def remount_all(self) -> None:
        """Cold caches on both sides: everything the kernel kept of the mounts goes."""
        for point, (backing, _) in list(self.mounts.items()):
            self.unmount(point)
            self.mount(backing, point)

    def close(self) -> None:
        for point in list(self.mounts):
            self.unmount(point)
        shutil.rmtree(self.base, ignore_errors=True)


def timed(argv: list[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess[str]]:
    global last_cpu_seconds
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed, result


class Methods:
    """Each way of copying SRC to a new DST, run as its own process and timed."""

    def __init__(self, pycache: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=str(pycache))
        subprocess.run([sys.executable, "-c", "import json, pathlib, controller.fs.copy"],
                       cwd=REPO, env=self.env, check=True)

    def run(self, method: str, src: Path, dst: Path) -> tuple[float, dict[str, Any]]:
        if method.startswith(DEFAULT):
            workers = method.removeprefix(DEFAULT).lstrip("-") or "0"
            seconds, result = timed([sys.executable, "-c", ENGINE, str(src), str(dst),
                                     workers], cwd=REPO, env=self.env)
            report = json.loads(result.stdout)
            if report["errors"] or report["conflicts"]:
                raise RuntimeError(f"the engine reported problems: {report}")
            return seconds, {"files_copied": report["files_copied"],
                             "workers": report["workers"],
                             "workers_reason": report["workers_reason"]}
        if method == "rsync":
            return timed(["rsync", "-aH", f"{src}/", f"{dst}/"])[0], {}
        if method == "cp":
            return timed(["cp", "-a", str(src), str(dst)])[0], {}
        if method == "tar":
            dst.mkdir(exist_ok=True)
            pipe = (f"tar -C '{src}' --numeric-owner -cf - . | "
                    f"tar -C '{dst}' --numeric-owner -xpf -")
            return timed(["bash", "-o", "pipefail", "-c", pipe])[0], {}
        raise ValueError(method)


def can_rerun(method: str) -> bool:
    """Methods with a no-op re-run worth timing (copying only what differs)."""
    return method.startswith(DEFAULT) or method == "rsync"


def spread(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": values}


def run_rounds(methods: Methods, order: list[str], rounds: int, src: Path, source: Tree,
               target: Callable[[str], Path], checked: Callable[[Path], Path],
               before_each: Callable[[], None], clear: Callable[[Path], None],
               label: str) -> dict[str, dict[str, Any]]:
    """Every method once per round (order rotated), each copy verified and, where it
    means something, re-run with nothing to do."""
    runs: dict[str, dict[str, Any]] = {m: {"seconds": [], "cpu_seconds": [],
                                           "noop_seconds": [], "verify": [], "load": [],
                                           "info": {}} for m in order}
    for round_ in range(rounds):
        shift = round_ % len(order)
        for method in order[shift:] + order[:shift]:
            say(f"{label} round {round_ + 1}/{rounds}: {method}")
            dst = target(method)
            before_each()
            seconds, info = methods.run(method, src, dst)
            run = runs[method]
            run["seconds"].append(seconds)
            run["cpu_seconds"].append(last_cpu_seconds)
            run["load"].append(os.getloadavg()[0])
            run["info"] = info
            granularity = TAR_SECONDS if method == "tar" else 1
            run["verify"].append(compare(source, checked(dst), granularity))
            if can_rerun(method):
                before_each()
                noop, again = methods.run(method, src, dst)
                run["noop_seconds"].append(noop)
                if again.get("files_copied"):
                    raise RuntimeError(f"{method}'s re-run copied {again['files_copied']}")
            clear(dst)
    return runs


def summarize(runs: dict[str, dict[str, Any]], targets: dict[str, float]) -> dict[str, Any]:
    """Per method: times and verification; per baseline: its time over the engine's, per
    round (median, min, max); the targets and whether the medians meet them."""
    out: dict[str, Any] = {"methods": {}, "ratios": {}, "targets": targets}
    for method, run in runs.items():
        bad = [check for check in run["verify"] if not check["equal"]]
        out["methods"][method] = {
            "seconds": spread(run["seconds"]),
            "cpu_seconds": spread(run["cpu_seconds"]),
            "noop_seconds": spread(run["noop_seconds"]) if run["noop_seconds"] else None,
            "verify": {"copies_checked": len(run["verify"]), "all_equal": not bad,
                       "first_failure": bad[0] if bad else None,
                       "mtime_granularity_ns": run["verify"][0]["mtime_granularity_ns"]},
            "load_avg_1m": run["load"], **run["info"]}
    engine = runs[DEFAULT]
    for method in runs:
        if method == DEFAULT:
            continue
        theirs = runs[method]
        out["ratios"][f"{method}_over_engine"] = spread(
            [a / b for a, b in zip(theirs["seconds"], engine["seconds"], strict=True)])
        if theirs["noop_seconds"]:
            out["ratios"][f"{method}_noop_over_engine_noop"] = spread(
                [a / b for a, b in zip(theirs["noop_seconds"], engine["noop_seconds"],
                                       strict=True)])
    all_verified = all(m["verify"]["all_equal"] for m in out["methods"].values())
    out["all_copies_verified"] = all_verified
    out["targets_met"] = {name: out["ratios"][name]["median"] >= wanted and all_verified
                          for name, wanted in targets.items()}
    return out


def plain_disk(methods: Methods, tools: Path, scratch: Scratch, files: int, mib: int,
               extra: list[str], rounds: int) -> dict[str, Any]:
    base = scratch.base / "disk"
    src = base / "src"
    tree = generate(tools, src, files, mib)
    source = scan(src)
    order = [DEFAULT, "cp", "rsync", "tar", *extra]
    runs = run_rounds(methods, order, rounds, src, source, lambda m: base / f"out-{m}",
                      lambda dst: dst, lambda: None, shutil.rmtree, "tmpfs")
    shutil.rmtree(src)
    return {"tree": tree, "rounds": rounds,
            **summarize(runs, {"cp_over_engine": 1.0, "rsync_over_engine": 2.0})}


def under_latency(methods: Methods, tools: Path, scratch: Scratch, files: int, mib: int,
                  extra: list[str], rounds: int) -> dict[str, Any]:
    backing_src, backing_dst = scratch.base / "lat-src", scratch.base / "lat-dst"
    tree = generate(tools, backing_src, files, mib)
    source = scan(backing_src)
    backing_dst.mkdir(parents=True)
    mnt_src, mnt_dst = scratch.base / "mnt-src", scratch.base / "mnt-dst"
    scratch.mount(backing_src, mnt_src)
    scratch.mount(backing_dst, mnt_dst)

    def clear(dst: Path) -> None:
        # Renamed through the mount first, so the kernel keeps no stale entries.
        os.rename(dst, mnt_dst / "done")
        shutil.rmtree(backing_dst / "done")

    order = [DEFAULT, "rsync", "cp", "tar", *extra]
    runs = run_rounds(methods, order, rounds, mnt_src, source, lambda m: mnt_dst / m,
                      lambda dst: backing_dst / dst.name, scratch.remount_all, clear,
                      "latfs")
    return {"tree": tree, "latency": LATENCY_OPTIONS, "rounds": rounds,
            **summarize(runs, {"rsync_over_engine": 25.0,
                               "rsync_noop_over_engine_noop": 10.0})}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small trees, for a smoke test")
    parser.add_argument("--tools", type=Path, default=DEFAULT_TOOLS)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every method; default: %(default)s")
    parser.add_argument("--disk-workers", default="1,16",
                        help="fixed engine worker counts timed beside the default on "
                             "tmpfs, for comparison; default: %(default)s")
    parser.add_argument("--latency-workers", default="16,64",
                        help="the same under latfs; default: %(default)s")
    parser.add_argument("--only", choices=("tmpfs", "latfs"),
                        help="run one part only (the report then lacks the other)")
    args = parser.parse_args()
    missing = [name for name in ("gentree.py", "latfs.c") if not (args.tools / name).exists()]
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
    results: dict[str, Any] = {
        "quick": args.quick, "cores": os.cpu_count(), "rounds": args.rounds,
        "load_avg_at_start": os.getloadavg(), "versions": _versions(),
        "cold_caches": "latfs: both mounts unmounted and mounted again before every timed "
                       "run; tmpfs: nothing to drop (its pages are the data); "
                       "/proc/sys/vm/drop_caches is read-only here"}
    try:
        scratch.latfs = build_latfs(args.tools, scratch.base)
        methods = Methods(scratch.pycache)
        if args.only in (None, "tmpfs"):
            results["plain_disk_tmpfs"] = plain_disk(
                methods, args.tools, scratch, *disk, _extra(args.disk_workers), args.rounds)
        if args.only in (None, "latfs"):
            results["latfs"] = under_latency(
                methods, args.tools, scratch, *latency, _extra(args.latency_workers),
                args.rounds)
    finally:
        scratch.close()
    results["load_avg_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    met = True
    for part in ("plain_disk_tmpfs", "latfs"):
        if part in results:
            met &= _print_part(part, results[part])
    print(f"results: {RESULTS}")
    return 0 if met else 1


def _print_part(name: str, part: dict[str, Any]) -> bool:
    methods = part["methods"]
    print(f"{name}: " + "; ".join(
        f"{m} {r['seconds']['median']:.2f}s (CPU {r['cpu_seconds']['median']:.2f}s)" + (
            f" (no-op {r['noop_seconds']['median']:.2f}s)" if r["noop_seconds"] else "")
        for m, r in methods.items())
        + f"; engine's workers: {methods[DEFAULT]['workers']} "
          f"({methods[DEFAULT]['workers_reason']})"
        + f"; every copy verified: {'yes' if part['all_copies_verified'] else 'NO'}")
    for ratio, value in part["ratios"].items():
        target = part["targets"].get(ratio)
        verdict = "" if target is None else (
            f" target {target:g}x {'met' if part['targets_met'][ratio] else 'NOT met'}")
        print(f"  {ratio}: median {value['median']:.2f}x (min {value['min']:.2f}, "
              f"max {value['max']:.2f}){verdict}")
    return all(part["targets_met"].values())


def _extra(text: str) -> list[str]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    return [f"{DEFAULT}-{count}" for count in dict.fromkeys(counts)]


def _versions() -> dict[str, str]:
    versions = {}
    for tool in ("rsync", "cp", "tar"):
        out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
        versions[tool] = out.splitlines()[0] if out else "unknown"
    return versions


if __name__ == "__main__":
    sys.exit(main())
