"""Benchmark: a controller at 5,000 profiles: its peak memory, and a restarted
controller's first pass (AWS calls and time).

An estate of PROFILES user profiles in DOMAINS domains is made on the local emulator by
a controller process that runs passes until one has nothing to do; its peak RSS is the
controller's at that size. That is the process's own high-water mark (VmHWM, which exec
resets), not getrusage's ru_maxrss: a child started from this process (which holds the
emulator) inherits the parent's ru_maxrss, so it reported the emulator's size before.
The resident size after the imports and after the reconciler is built (status table
and describe seeds read) are reported beside it: the floor that does not grow with
the estate.
Then a second controller process starts, as after a restart or a failover to a warm
standby, and runs one pass; its AWS calls (by operation) and time are reported. That
pass runs with the emulator's latency and rate model on (--latency-model aws, the
default), the first controller's at the emulator's own speed (to keep the run short).
With --tracemalloc the first controller reports where its memory went (top lines).

    python bench/restart_pass.py [--profiles 5000] [--domains 2] [--latency-model aws|off]
        [--tracemalloc] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.clock import SystemClock  # noqa: E402
from controller.desired import load_desired_state  # noqa: E402
from controller.gateway import AwsGateway  # noqa: E402
from controller.logs import configure  # noqa: E402
from controller.loop.factory import make_reconciler  # noqa: E402

REGION = "us-east-1"
TARGET_RSS_MB = 150.0


def controller(endpoint: str, desired_dir: str, efs_root: str, passes: int,
               trace: bool) -> dict[str, Any]:
    """In the controller's own process: run up to `passes` passes (stop at one with
    nothing to do); its calls, time and peak RSS."""
    if trace:
        tracemalloc.start(10)
    phases = {"imports": resident_mb("VmRSS")}
    desired = load_desired_state(Path(desired_dir))
    gateway = AwsGateway(endpoint_url=endpoint, max_attempts=8)
    rec = make_reconciler(gateway, REGION, Path(efs_root), SystemClock())
    phases["reconciler_built"] = resident_mb("VmRSS")
    log = []
    for _ in range(passes):
        before = gateway.total_calls()
        result = rec.reconcile(desired)
        log.append({"seconds": round(result.seconds, 3), "actions": len(result.plan.actions),
                    "result": result.result, "aws_calls": gateway.total_calls() - before,
                    "rss_mb": resident_mb("VmRSS"), "peak_rss_mb": resident_mb("VmHWM")})
        if not result.plan.actions:
            break
        time.sleep(1.0)  # let what was made settle, as the resync interval would
    report: dict[str, Any] = {
        "passes": log,
        "first_pass": log[0],
        "aws_calls_by_operation": {f"{service}:{operation}": count for (service, operation, _),
                                   count in sorted(gateway.calls.items())},
        "peak_rss_mb": resident_mb("VmHWM"),
        "rss_mb_after": {**phases, "passes": resident_mb("VmRSS")},
        "describe_cache_entries": len(rec.cache),
    }
    if trace:
        snapshot = tracemalloc.take_snapshot()
        report["tracemalloc_top"] = [str(s) for s in snapshot.statistics("lineno")[:12]]
        report["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    return report


def resident_mb(field: str) -> float:
    """This process's VmRSS or VmHWM (its peak), in MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field} in /proc/self/status")


def in_child(endpoint: str, desired: Path, efs_root: Path, passes: int,
             trace: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", endpoint, str(desired), str(efs_root),
         str(passes), *(["--tracemalloc"] if trace else [])],
        capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        raise RuntimeError(f"the controller process failed ({done.returncode}):\n"
                           f"{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=5000)
    parser.add_argument("--domains", type=int, default=2)
    parser.add_argument("--latency-model", choices=("aws", "off"), default="aws")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("ENDPOINT", "DESIRED", "EFS", "PASSES"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "restart_pass.json"))
    args = parser.parse_args()
    configure(level="warning", json=False)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    if args.child:
        endpoint, desired_dir, efs_root, passes = args.child
        print(json.dumps(controller(endpoint, desired_dir, efs_root, int(passes),
                                    args.tracemalloc)))
        return 0

    from controller.emulator import prepare_estate, start_emulator
    from tests.scaled_estate import write_estate

    load_at_start = os.getloadavg()  # the machine is shared: say how busy it was
    with tempfile.TemporaryDirectory(prefix="restart-pass-") as tmp:
        data = Path(tmp)
        desired_dir = write_estate(data / "desired", args.domains, args.profiles)
        desired = load_desired_state(desired_dir)
        emulator = start_emulator(data / "aws")
        try:
            prepare_estate(emulator.endpoint_url, desired, emulator.efs_root)
            started = time.monotonic()
            first = in_child(emulator.endpoint_url, desired_dir, emulator.efs_root, 12,
                             args.tracemalloc)
            converge_s = time.monotonic() - started
            print(f"converged {args.profiles} profiles in {converge_s:.0f} s; peak RSS "
                  f"{first['peak_rss_mb']} MB", flush=True)
            if args.latency_model == "aws":
                emulator.set_latency_model(seed=1)
            restarted = in_child(emulator.endpoint_url, desired_dir, emulator.efs_root, 1,
                                 False)
        finally:
            emulator.stop()
    peak = max(first["peak_rss_mb"], restarted["peak_rss_mb"])
    report = {
        "benchmark": "restart_pass",
        "estate": {"profiles": args.profiles, "domains": args.domains},
        "settings": {"latency_model_for_restart": args.latency_model,
                     "first_controller": "emulator speed"},
        "first_controller": {**first, "converge_seconds": round(converge_s, 1)},
        "restarted_first_pass": restarted,
        "peak_rss_mb": peak,
        "load_average_1_5_15_min": {"start": load_at_start, "end": os.getloadavg()},
        "target": {"peak_rss_mb_below": TARGET_RSS_MB, "met": peak < TARGET_RSS_MB},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
