"""Benchmark: a change made outside git, to its correction, through events and by resync.

An estate of PROFILES user profiles (the idle-pass benchmark's shape) is converged on the
local AWS emulator, which delivers a CloudTrail event to EventBridge for every SageMaker
and EFS call (after --cloudtrail-delay seconds; CloudTrail's own delivery on AWS adds
its time on top). Then, with the real controller loop running on the system clock:

- events: the controller long-polls the region's queue (the rule routes the events
  there) and runs a targeted pass for each profile an event names. A profile's uid is
  changed behind its back, ROUNDS times, and each time the benchmark measures the
  seconds until SageMaker holds the desired uid again, and counts the AWS calls the
  controller made meanwhile (an event's cost), by operation. An event about a change
  that needs nothing (a no-op update) is counted too.
- resync only: the same change with no queue read; it waits for the next periodic pass,
  run every --resync-seconds (shorter than the default 300 s, to keep the run short).
  The latency expected at the default resync is half of it plus one full pass, on
  average, and a whole resync plus one full pass at worst.

    python bench/events.py [--profiles 2000] [--rounds 5] [--resync-seconds 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from idle_pass import write_estate  # noqa: E402

from controller.clock import SystemClock  # noqa: E402
from controller.desired import load_desired_state  # noqa: E402
from controller.emulator import prepare_estate, start_emulator  # noqa: E402
from controller.events import QUEUE_NAME  # noqa: E402
from controller.events.listener import EventInbox, EventListener  # noqa: E402
from controller.gateway import AwsGateway  # noqa: E402
from controller.logs import configure  # noqa: E402
from controller.loop.controller import Controller, Timing  # noqa: E402
from controller.loop.factory import make_reconciler  # noqa: E402
from controller.source import FolderSource  # noqa: E402

REGION = "us-east-1"
DEFAULT_RESYNC = 300.0


class Loop:
    """A controller loop on a thread, with or without its event listener."""

    def __init__(self, endpoint: str, efs_root: Path, folder: Path, resync: float,
                 events: bool) -> None:
        self.gateway = AwsGateway(endpoint_url=endpoint, max_attempts=3)
        self.reconciler = make_reconciler(self.gateway, REGION, efs_root, SystemClock())
        self.passes: list[tuple[float, float]] = []  # (when it ended, seconds)
        inbox = EventInbox() if events else None
        self.controller = Controller(
            FolderSource(folder), self.reconciler, SystemClock(),
            Timing(resync_seconds=resync, poll_seconds=3600, follow_up_seconds=1.0),
            on_pass=self._on_pass, events=inbox)
        self.listener = None
        if inbox is not None:
            queue = self.gateway.client("sqs", REGION).get_queue_url(
                QueueName=QUEUE_NAME)["QueueUrl"]
            self.listener = EventListener(self.gateway, REGION, queue, inbox, wait_seconds=20)
        self.thread = threading.Thread(target=self.controller.run, daemon=True)

    def _on_pass(self, result: Any) -> None:
        self.passes.append((time.monotonic(), result.seconds))

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()
        self.thread.start()

    def stop(self) -> None:
        self.controller.stop()
        if self.listener is not None:
            self.listener.stop(timeout=25)
        self.thread.join(60)


def uid_of(sagemaker: Any, domain_id: str, name: str) -> int:
    described = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=name)
    return int(described["UserSettings"]["CustomPosixUserConfig"]["Uid"])


def change_and_wait(sagemaker: Any, domain_id: str, name: str, desired_uid: int,
                    timeout: float, no_op: bool = False) -> float | None:
    """Change the profile behind the controller's back; seconds until it is put back."""
    settings = {"CustomPosixUserConfig": {"Uid": desired_uid if no_op else 3_999_999,
                                          "Gid": 1001}}
    started = time.monotonic()
    sagemaker.update_user_profile(DomainId=domain_id, UserProfileName=name,
                                  UserSettings=settings)
    if no_op:
        return None
    while time.monotonic() - started < timeout:
        if uid_of(sagemaker, domain_id, name) == desired_uid:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def calls_by_operation(gateway: AwsGateway) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for (service, operation, _), n in gateway.calls.items():
        counts[f"{service}:{operation}"] += n
    return dict(sorted(counts.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--domains", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--resync-seconds", type=float, default=60.0)
    parser.add_argument("--cloudtrail-delay", type=float, default=0.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "events.json"))
    args = parser.parse_args()
    configure(level="warning", json=False)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
        folder = Path(scratch) / "desired"
        folder.mkdir()
        write_estate(folder, args.domains, args.profiles)
        desired = load_desired_state(folder)
        with start_emulator(Path(scratch) / "aws") as aws:
            aws.set_cloudtrail_delay(args.cloudtrail_delay)
            prepare_estate(aws.endpoint_url, desired, aws.efs_root)
            sagemaker = boto3.client("sagemaker", region_name=REGION,
                                     endpoint_url=aws.endpoint_url)
            report = run(args, aws, folder, desired, sagemaker, rng)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def run(args: argparse.Namespace, aws: Any, folder: Path, desired: Any, sagemaker: Any,
        rng: random.Random) -> dict[str, Any]:
    profiles = sorted(desired.profiles.values(), key=lambda p: p.qualified_name)
    report: dict[str, Any] = {"benchmark": "events", "profiles": len(profiles),
                              "cloudtrail_delay_seconds": args.cloudtrail_delay}
    # Events: converge first (a full pass), then changes corrected by targeted passes.
    loop = Loop(aws.endpoint_url, aws.efs_root, folder, DEFAULT_RESYNC, events=True)
    started = time.monotonic()
    # Converged by plain passes first; the events of making the estate (one per call)
    # are dropped: what is measured is a change to a converged estate.
    for _ in range(10):
        if not loop.reconciler.reconcile(desired).plan.actions:
            break
    report["converge_seconds"] = round(time.monotonic() - started, 1)
    time.sleep(1.0)  # the last calls' events delivered, then dropped
    sqs = loop.gateway.client("sqs", REGION)
    sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"])
    loop.start()
    while not loop.passes:  # the loop's first (full) pass
        time.sleep(0.5)
    time.sleep(3)
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    latencies, costs = [], []
    for _ in range(args.rounds):
        profile = rng.choice(profiles)
        loop.gateway.reset_counts()
        took = change_and_wait(sagemaker, domains[profile.domain], profile.name,
                               profile.posix.uid, timeout=60)
        time.sleep(2.0)  # the events of the controller's own fix, handled as well
        latencies.append(took)
        costs.append(calls_by_operation(loop.gateway))
    loop.gateway.reset_counts()
    profile = rng.choice(profiles)
    change_and_wait(sagemaker, domains[profile.domain], profile.name, profile.posix.uid,
                    timeout=0, no_op=True)
    time.sleep(3.0)
    no_op = calls_by_operation(loop.gateway)
    loop.stop()
    measured = [t for t in latencies if t is not None]
    print(json.dumps({"events_latencies": latencies, "no_op_calls": no_op}), flush=True)
    report["events"] = {
        "latency_seconds_each": [None if t is None else round(t, 3) for t in latencies],
        "latency_seconds_median": round(statistics.median(measured), 3) if measured else None,
        "latency_seconds_max": round(max(measured), 3) if measured else None,
        "aws_calls_per_correction_each": [sum(c.values()) for c in costs],
        "aws_calls_per_correction_by_operation": costs[0] if costs else {},
        "aws_calls_for_an_event_needing_nothing": no_op,
        "note": "calls counted from the change to 2 s after its correction: the targeted "
                "pass for the change and the ones for the events of the controller's own "
                "fix, SQS reads (long polls) and status writes included",
    }
    # Resync only: the same changes, noticed by the periodic full pass.
    loop = Loop(aws.endpoint_url, aws.efs_root, folder, args.resync_seconds, events=False)
    loop.start()
    while not loop.passes:
        time.sleep(0.5)
    resync_latencies = []
    for _ in range(3):
        time.sleep(rng.uniform(0, args.resync_seconds))  # a random phase of the resync
        profile = rng.choice(profiles)
        took = change_and_wait(sagemaker, domains[profile.domain], profile.name,
                               profile.posix.uid, timeout=args.resync_seconds * 2 + 30)
        resync_latencies.append(took)
    full_passes = [seconds for _, seconds in loop.passes[1:]]
    loop.gateway.reset_counts()
    loop.reconciler.reconcile(desired)
    full_pass_calls = calls_by_operation(loop.gateway)
    loop.stop()
    pass_seconds = statistics.median(full_passes) if full_passes else 0.0
    done = [t for t in resync_latencies if t is not None]
    report["resync_only"] = {
        "resync_seconds": args.resync_seconds,
        "latency_seconds_each": [None if t is None else round(t, 3) for t in resync_latencies],
        "latency_seconds_median": round(statistics.median(done), 3) if done else None,
        "full_pass_seconds_median": round(pass_seconds, 3),
        "aws_calls_per_full_pass": sum(full_pass_calls.values()),
        "expected_at_default_resync": {
            "resync_seconds": DEFAULT_RESYNC,
            "mean_latency_seconds": round(DEFAULT_RESYNC / 2 + pass_seconds, 1),
            "worst_latency_seconds": round(DEFAULT_RESYNC + pass_seconds, 1)},
    }
    median = report["events"]["latency_seconds_median"]
    report["ratio_expected_resync_over_events"] = (
        round(report["resync_only"]["expected_at_default_resync"]["mean_latency_seconds"]
              / median, 1) if median else None)
    return report


if __name__ == "__main__":
    sys.exit(main())
