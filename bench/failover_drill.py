"""Benchmark: a failover drill at scale, from the flip commit to every profile Ready.

The issue's target: with 500 profiles in 2 domains, the controller takes under 60 s
from the commit that flips Estate.spec.activeRegion to every profile Ready in the new
region. The run is the drill's (`studioctl drill`, controller/cli/drill_story.py) at
that size: the estate lives in a local git repository, one controller per region
follows it on the local emulator, the primary converges and its file system replicates
(every share directory present on the replica), then one commit flips activeRegion to
the replica region. Measured from that commit:

- wall time until every profile is Ready in the new region's status (the controller's
  own view, then read back from its status table as `studioctl status` would),
- the recovery time the new region's controller records (FailoverTracker),
- AWS calls (the emulator's counts, both regions), passes, and whether every profile
  ends Ready in AWS with the POSIX ids the desired state gives it.

The failover runs at AWS's speed (the emulator's latency and rate model, pacing.py,
turned on just before the flip commit; the primary's first convergence runs at the
emulator's own speed to keep the benchmark short). It runs twice in one invocation, each
on a fresh emulator: with the controllers' action pool (--max-concurrent-actions, 8 by
default) and one action at a time (1), and reports the ratio. Both commit-to-every-
profile-Ready and commit-to-every-resource-Ready are compared with the 60 s target;
writes a JSON report.

    python bench/failover_drill.py [--profiles 500] [--domains 2] [--primary-down]
        [--poll-seconds 0.5] [--resync-seconds 2] [--latency-model aws|off]
        [--max-concurrent-actions 8] [--no-serial] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.clock import SystemClock  # noqa: E402
from controller.desired import load_desired_state  # noqa: E402
from controller.emulator import Emulator, prepare_estate, start_emulator  # noqa: E402
from controller.gateway import AwsGateway  # noqa: E402
from controller.logs import configure  # noqa: E402
from controller.loop.controller import Controller, Timing  # noqa: E402
from controller.loop.factory import make_reconciler  # noqa: E402
from controller.loop.reconciler import PassResult  # noqa: E402
from controller.loop.workqueue import Backoff  # noqa: E402
from controller.model import DesiredState  # noqa: E402
from controller.plan import Kind  # noqa: E402
from controller.plan.keys import resource_keys  # noqa: E402
from controller.source import GitSource  # noqa: E402
from controller.status.conditions import READY, TRUE  # noqa: E402
from controller.status.store import DynamoStatusStore, ResourceStatus  # noqa: E402
from tests.scaled_estate import write_estate  # noqa: E402

TARGET_SECONDS = 60.0
WATCH_INTERVAL = 0.05  # how finely the milestones after the commit are timed
REPLICATION_INTERVAL = 0.5  # the drill's


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c",
                           "user.email=bench@localhost", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def flip_active_region(repo: Path, desired: DesiredState) -> tuple[str, str]:
    """What the platform team does: one commit to activeRegion. (new region, sha)"""
    estate = repo / "desired_state" / "estate.yaml"
    old, new = desired.estate.active_region, desired.estate.standby_region()
    estate.write_text(estate.read_text().replace(f"activeRegion: {old}",
                                                 f"activeRegion: {new}"))
    git(repo, "commit", "--quiet", "-am", f"Fail over to {new}")
    return new, git(repo, "rev-parse", "HEAD")


@dataclass(frozen=True)
class PassRecord:
    region: str
    revision: str
    ended_at: float  # monotonic
    seconds: float
    actions: int
    result: str
    aws_calls: int  # made by this region's gateway since its previous pass ended


class Region:
    """One region's controller on its own thread, as the drill runs it."""

    def __init__(self, emulator: Emulator, repo: Path, data: Path, region: str,
                 timing: Timing, passes: list[PassRecord], workers: int) -> None:
        self.region = region
        self.gateway = AwsGateway(endpoint_url=emulator.endpoint_url, max_attempts=5)
        clock = SystemClock()
        reconciler = make_reconciler(self.gateway, region, emulator.efs_root, clock,
                                     backoff=Backoff(base_seconds=0.5, max_seconds=5),
                                     max_concurrent_actions=workers)
        source = GitSource(f"file://{repo}", data / f"checkout-{region}", "main",
                           "desired_state")
        self._passes = passes
        self._calls_before = 0
        self.controller = Controller(source, reconciler, clock, timing, on_pass=self._record)
        self.thread = threading.Thread(target=self.controller.run, daemon=True,
                                       name=f"controller-{region}")

    def _record(self, result: PassResult) -> None:
        # Runs on the controller's thread, the only one that uses this gateway.
        calls = self.gateway.total_calls()
        self._passes.append(PassRecord(self.region, result.plan.revision, time.monotonic(),
                                       result.seconds, len(result.plan.actions),
                                       result.result, calls - self._calls_before))
        self._calls_before = calls

    def ready(self, keys: list[str]) -> bool:
        """Every one of these status keys ("<kind>#<name>") is Ready in the controller's
        view of its status table (the keys are made once: watching must stay cheap)."""
        status = self.controller.reconciler.status
        return status is not None and all(_is_ready(status.current.get(k)) for k in keys)

    def failover_phase(self, revision: str) -> str | None:
        failover = self.controller.reconciler.failover
        record = failover.record if failover is not None else None
        return record.phase if record is not None and record.revision == revision else None


def status_keys(desired: DesiredState, region: str, kind: str | None = None) -> list[str]:
    return [f"{k.kind}#{k.name}" for k in resource_keys(desired, region)
            if kind is None or k.kind == kind]


def _is_ready(status: ResourceStatus | None) -> bool:
    return status is not None and any(c.type == READY and c.status == TRUE
                                      for c in status.conditions)


def wait_for(what: str, done: Callable[[], bool], timeout: float,
             interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            print(f"  {what}", flush=True)
            return True
        time.sleep(interval)
    print(f"  {what}: NOT within {timeout:.0f} s", flush=True)
    return False


def studio_efs_mount(emulator: Emulator, gateway: AwsGateway, region: str) -> Path | None:
    """The folder standing in for the region's studio-efs mount (the replica is found by
    the Name tag replication set-up gives it)."""
    for fs in gateway.client("efs", region).describe_file_systems()["FileSystems"]:
        if fs.get("Name") == "studio-efs":
            return emulator.efs_root / fs["FileSystemId"]
    return None


def replicated(emulator: Emulator, gateway: AwsGateway, desired: DesiredState) -> bool:
    """Every share directory (users' homes included) is on the replica region's copy."""
    root = studio_efs_mount(emulator, gateway, desired.estate.standby_region())
    return root is not None and all((root / d.path.lstrip("/")).is_dir()
                                    for d in desired.share_directories())


class Milestones:
    """Seconds from the commit at which each condition was first seen to hold.

    The checks are given in the order they come true, each implied by the next; they are
    evaluated last to first so that one cannot be seen before another it implies.
    """

    def __init__(self, started: float, checks: dict[str, Callable[[], bool]]) -> None:
        self.started = started
        self.checks = checks
        self.seen: dict[str, float] = {}

    def watch(self, until: str, timeout: float) -> bool:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            new = [name for name, check in reversed(self.checks.items())
                   if name not in self.seen and check()]
            for name in reversed(new):
                self.seen[name] = round(now - self.started, 3)
                print(f"  +{self.seen[name]:7.2f}s  {name}", flush=True)
            if until in self.seen:
                return True
            time.sleep(WATCH_INTERVAL)
        return False


def posix_mismatches(gateway: AwsGateway, desired: DesiredState, region: str) -> list[str]:
    sagemaker = gateway.client("sagemaker", region)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    wrong = []
    for key, profile in sorted(desired.profiles.items()):
        described = sagemaker.describe_user_profile(DomainId=domains[profile.domain],
                                                    UserProfileName=profile.name)
        posix = described["UserSettings"].get("CustomPosixUserConfig", {})
        if (posix.get("Uid"), posix.get("Gid")) != (profile.posix.uid, profile.posix.gid) or (
                described.get("Status") != "InService"):
            wrong.append(key)
    return wrong


def drill(emulator: Emulator, repo: Path, data: Path, desired: DesiredState,
          timing: Timing, timeout: float, primary_down: bool, workers: int = 8,
          latency: bool = True) -> dict[str, Any]:
    """Converge the primary, let it replicate, flip by a commit, time the new region."""
    old = desired.estate.active_region
    passes: list[PassRecord] = []
    checker = AwsGateway(endpoint_url=emulator.endpoint_url, max_attempts=10)
    prepare_estate(emulator.endpoint_url, desired, emulator.efs_root)
    regions = {name: Region(emulator, repo, data, name, timing, passes, workers)
               for name in desired.estate.regions}
    print(f"{len(desired.profiles)} profiles in {len(desired.domains)} domains; "
          f"controllers for {', '.join(regions)}, {old} active; up to {workers} "
          "concurrent actions", flush=True)
    try:
        started = time.monotonic()
        for region in regions.values():
            region.thread.start()
        primary_keys = status_keys(desired, old)
        if not (wait_for(f"{old} converged", lambda: regions[old].ready(primary_keys), timeout)
                and wait_for("share directories replicated",
                             lambda: replicated(emulator, checker, desired), timeout)):
            raise TimeoutError(f"{old} did not converge and replicate within {timeout:.0f} s")
        converge_s = time.monotonic() - started
        if primary_down:  # a region lost, not a drill: its controller is gone too
            regions[old].controller.stop()
            regions[old].thread.join(60)
            print(f"  {old} controller stopped", flush=True)

        if latency:
            emulator.set_latency_model(seed=1)  # AWS's latencies and rate limits from here
        emulator.reset_request_counts()
        flipped_at = time.monotonic()
        new, sha = flip_active_region(repo, desired)
        committed_wall, commit_s = time.time(), time.monotonic() - flipped_at
        print(f"committed {sha[:12]}: activeRegion {new}", flush=True)
        flipped = load_desired_state(repo / "desired_state", revision=sha)
        target = regions[new]
        profile_keys = status_keys(flipped, new, Kind.USER_PROFILE)
        every_key = status_keys(flipped, new)
        milestones = Milestones(flipped_at, {
            "commit seen": lambda: (target.controller.desired is not None
                                    and target.controller.desired.revision == sha),
            "failover started": lambda: target.failover_phase(sha) is not None,
            "every profile Ready": lambda: target.ready(profile_keys),
            "every resource Ready": lambda: target.ready(every_key),
            "failover Complete": lambda: target.failover_phase(sha) == "Complete",
        })
        if milestones.watch("every profile Ready", timeout):
            counts = emulator.request_counts()
            milestones.watch("failover Complete", timeout)
        else:
            counts = emulator.request_counts()
        failover = target.controller.reconciler.failover
        record = failover.record if failover is not None else None
        throttled = emulator.latency_model_snapshot().get("throttled", {})
    finally:
        for region in regions.values():
            region.controller.stop()
        for region in regions.values():
            if region.thread.is_alive():
                region.thread.join(60)

    # After the run, as `studioctl status` and a user would see it (at emulator speed).
    emulator.clear_latency_model()
    stored, _ = DynamoStatusStore(checker, new).load()
    stored_ready = all(_is_ready(stored.get(k)) for k in profile_keys)
    wrong = posix_mismatches(checker, flipped, new)

    measured = milestones.seen.get("every profile Ready")
    ready_at = flipped_at + (measured if measured is not None else timeout)
    window = [p for p in passes if p.region == new and p.revision == sha
              and p.ended_at - p.seconds <= ready_at]
    return {
        "benchmark": "failover_drill",
        "estate": {"profiles": len(flipped.profiles), "domains": len(flipped.domains),
                   "share_directories": len(flipped.share_directories()),
                   "from_region": old, "to_region": new},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {"poll_seconds": timing.poll_seconds,
                     "resync_seconds": timing.resync_seconds,
                     "old_region_controller_during_failover": (
                         "stopped" if primary_down else "running"),
                     "emulator_transition_seconds": emulator.transition_seconds,
                     "emulator_replication_interval_seconds": REPLICATION_INTERVAL,
                     "max_concurrent_actions": workers,
                     "latency_model": ("AWS's latencies and rate limits (pacing.py), from "
                                       "the flip commit" if latency else "off")},
        "primary_converge_seconds": round(converge_s, 3),
        "failover": {
            "commit_to_every_profile_ready_seconds": measured,
            "milestones_seconds_after_commit": milestones.seen,
            "git_commit_seconds": round(commit_s, 3),
            "recorded_recovery_seconds": record.recovery_seconds if record else None,
            "recorded_phase": record.phase if record else None,
            "recorded_start_after_commit_seconds": (
                round(record.started_at - committed_wall, 3) if record else None),
            "passes": len(window),
            "pass_log": [{"seconds_before_status_writes": round(p.seconds, 3),
                          "ended_after_commit_seconds": round(p.ended_at - flipped_at, 3),
                          "actions": p.actions, "result": p.result, "aws_calls": p.aws_calls}
                         for p in window],
            "aws_calls_new_region": sum(p.aws_calls for p in window),
            "aws_calls_both_regions": sum(counts.values()),
            "aws_calls_by_operation": dict(sorted(counts.items())),
            "calls_throttled_by_the_emulator": dict(sorted(throttled.items())),
        },
        "outcome": {"every_profile_ready_in_status_table": stored_ready,
                    "every_profile_in_service_with_desired_posix_ids": not wrong,
                    "mismatched_profiles": wrong[:20]},
        "target": _target(measured, milestones.seen.get("every resource Ready")),
    }


def _target(profiles: float | None, resources: float | None) -> dict[str, Any]:
    return {"target_seconds": TARGET_SECONDS, "every_profile_ready_seconds": profiles,
            "every_resource_ready_seconds": resources,
            "met": all(s is not None and s < TARGET_SECONDS for s in (profiles, resources))}


def _ratio(slow: float | None, fast: float | None) -> float | None:
    return round(slow / fast, 2) if slow is not None and fast else None


def run_once(args: argparse.Namespace, timing: Timing, workers: int) -> dict[str, Any]:
    """One drill on a fresh emulator and repository."""
    with tempfile.TemporaryDirectory(prefix="failover-drill-") as tmp:
        data = Path(tmp)
        repo = data / "estate"
        (repo / "desired_state").mkdir(parents=True)
        write_estate(repo / "desired_state", args.domains, args.profiles,
                     nfs_security_group=False)
        git(repo, "init", "--quiet", "--initial-branch=main")
        git(repo, "add", ".")
        git(repo, "commit", "--quiet", "-m", "The estate")
        desired = load_desired_state(repo / "desired_state")
        emulator = start_emulator(data / "aws",
                                  replication_interval_seconds=REPLICATION_INTERVAL)
        try:
            return drill(emulator, repo, data, desired, timing, args.timeout,
                         args.primary_down, workers, args.latency_model == "aws")
        finally:
            emulator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--domains", type=int, default=2)
    parser.add_argument("--poll-seconds", type=float, default=0.5,
                        help="how often each controller fetches git (the drill's: 0.5)")
    parser.add_argument("--resync-seconds", type=float, default=2.0,
                        help="periodic pass interval (the drill's: 2)")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds each phase may take")
    parser.add_argument("--primary-down", action="store_true",
                        help="stop the old region's controller before the flip (a lost "
                             "region); by default it keeps running, as in a drill")
    parser.add_argument("--latency-model", choices=("aws", "off"), default="aws",
                        help="the emulator's speed during the failover; default: aws")
    parser.add_argument("--max-concurrent-actions", type=int, default=8)
    parser.add_argument("--no-serial", action="store_true",
                        help="skip the one-action-at-a-time run beside it")
    parser.add_argument("--out",
                        default=str(ROOT / "bench" / "results" / "failover_drill.json"))
    args = parser.parse_args()
    configure(level="warning", json=False)  # one line per action would drown the report
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    timing = Timing(resync_seconds=args.resync_seconds, poll_seconds=args.poll_seconds)

    load_at_start = os.getloadavg()  # the machine is shared: say how busy it was
    report = run_once(args, timing, args.max_concurrent_actions)
    if not args.no_serial:
        serial = run_once(args, timing, 1)
        report["serial"] = {k: serial[k] for k in ("failover", "outcome", "target")}
        ms, mc = (serial["failover"]["milestones_seconds_after_commit"],
                  report["failover"]["milestones_seconds_after_commit"])
        report["serial_over_concurrent"] = {
            name: _ratio(ms.get(name), mc.get(name))
            for name in ("every profile Ready", "every resource Ready")}

    report["load_average_1_5_15_min"] = {"start": load_at_start, "end": os.getloadavg()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    outcome = report["outcome"]
    ok = report["target"]["met"] and all(v for k, v in outcome.items() if k.startswith("every"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
