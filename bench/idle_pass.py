"""Benchmark: an idle pass over an unchanged estate, beside a naive pass, in one run.

An estate of PROFILES user profiles in DOMAINS domains is converged on the local AWS
emulator. Then, side by side and alternating so both see the same machine:

- the operator's idle pass (list calls; describes reused while LastModifiedTime holds),
- a naive pass: the same observe-and-plan but describing every domain and profile.

Both are timed and their AWS calls counted. Finally one profile is changed behind the
operator's back and the next idle pass must find it. Writes a JSON report.

    python bench/idle_pass.py [--profiles 2000] [--domains 4] [--rounds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.clock import SystemClock  # noqa: E402
from controller.desired import load_desired_state  # noqa: E402
from controller.emulator import prepare_estate, start_emulator  # noqa: E402
from controller.gateway import AwsGateway  # noqa: E402
from controller.logs import configure  # noqa: E402
from controller.loop.factory import make_reconciler  # noqa: E402
from controller.observe import observe  # noqa: E402
from controller.plan import make_plan  # noqa: E402

REGION = "us-east-1"


def write_estate(folder: Path, domains: int, profiles: int) -> None:
    """The example estate's shape, scaled: compact profile tables, one per domain."""
    for name in ("estate.yaml", "filesystems.yaml", "shares.yaml"):
        (folder / name).write_text((ROOT / "desired_state" / name).read_text())
    per_domain = profiles // domains
    uid = 300000
    for index in range(domains):
        rows = []
        for member in range(per_domain):
            uid += 1
            rows.append(f"    - {{name: user-{index}-{member}, uid: {uid}, gid: 1001}}")
        network = ("      vpc: studio-vpc\n      subnets: [studio-private-a, studio-private-b]\n"
                   "      securityGroups: [studio-nfs]\n")
        (folder / f"domain-{index}.yaml").write_text(
            "apiVersion: studio-operator.io/v1alpha1\nkind: Domain\n"
            f"metadata:\n  name: team-{index}\nspec:\n"
            "  executionRole: studio-execution-role\n"
            "  shares: [home, team, datasets]\n"
            f"  network:\n    us-east-1:\n{network}    us-west-2:\n{network}"
            "  profiles:\n" + "\n".join(rows) + "\n")


def counted(gateway: AwsGateway, work) -> tuple[float, int, object]:  # type: ignore[no-untyped-def]
    gateway.reset_counts()
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, gateway.total_calls(), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=2000)
    parser.add_argument("--domains", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "idle_pass.json"))
    args = parser.parse_args()
    configure(level="warning", json=False)  # one line per action would drown the report
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    with tempfile.TemporaryDirectory(prefix="idle-pass-") as tmp:
        folder = Path(tmp) / "desired"
        folder.mkdir()
        write_estate(folder, args.domains, args.profiles)
        desired = load_desired_state(folder)
        emulator = start_emulator(Path(tmp) / "aws")
        try:
            prepare_estate(emulator.endpoint_url, desired, emulator.efs_root)
            clock = SystemClock()
            gateway = AwsGateway(endpoint_url=emulator.endpoint_url, max_attempts=3)
            reconciler = make_reconciler(gateway, REGION, emulator.efs_root, clock)
            print(f"converging {len(desired.profiles)} profiles in {len(desired.domains)} "
                  "domains ...", flush=True)
            converge_s, converge_calls, first = counted(gateway,
                                                        lambda: reconciler.reconcile(desired))
            # Domains wait a pass for their file systems' mount targets and NFS access;
            # then one more: the first look at what was just created.
            while reconciler.reconcile(desired).plan.actions:
                pass

            def naive_pass():  # type: ignore[no-untyped-def]
                return make_plan(desired, observe(gateway, desired, REGION, emulator.efs_root))

            idle, naive = [], []
            for round_ in range(args.rounds):
                idle.append(counted(gateway, lambda: reconciler.reconcile(desired)))
                naive.append(counted(gateway, naive_pass))
                assert not idle[-1][2].plan.actions and not naive[-1][2].actions
                print(f"round {round_ + 1}: idle {idle[-1][0]:.3f}s {idle[-1][1]} calls, "
                      f"naive {naive[-1][0]:.3f}s {naive[-1][1]} calls", flush=True)

            drift_profile = sorted(desired.profiles)[len(desired.profiles) // 2]
            domain, name = drift_profile.split("/")
            sagemaker = boto3.client("sagemaker", region_name=REGION,
                                     endpoint_url=emulator.endpoint_url)
            domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                             if d["DomainName"] == domain)
            sagemaker.update_user_profile(DomainId=domain_id, UserProfileName=name,
                                          UserSettings={"CustomPosixUserConfig": {
                                              "Uid": 3999999, "Gid": 1001}})
            drift_s, drift_calls, drift = counted(gateway, lambda: reconciler.reconcile(desired))
            found = [str(o.key) for o in drift.outcomes]  # type: ignore[attr-defined]
        finally:
            emulator.stop()

    idle_s = statistics.median(r[0] for r in idle)
    idle_calls = statistics.median(r[1] for r in idle)
    naive_s = statistics.median(r[0] for r in naive)
    naive_calls = statistics.median(r[1] for r in naive)
    report = {
        "benchmark": "idle_pass",
        "estate": {"profiles": len(desired.profiles), "domains": len(desired.domains),
                   "share_directories": len(desired.share_directories())},
        "rounds": args.rounds,
        "converge_first_pass": {"seconds": round(converge_s, 3), "aws_calls": converge_calls,
                                "actions": len(first.plan.actions)},  # type: ignore[attr-defined]
        "idle_pass": {"seconds_median": round(idle_s, 4), "aws_calls_median": idle_calls,
                      "seconds_each": [round(r[0], 4) for r in idle]},
        "naive_pass": {"seconds_median": round(naive_s, 4), "aws_calls_median": naive_calls,
                       "seconds_each": [round(r[0], 4) for r in naive]},
        "ratios": {"calls_naive_over_idle": round(naive_calls / idle_calls, 1),
                   "time_naive_over_idle": round(naive_s / idle_s, 1)},
        "targets": {"calls_at_least_10x_fewer": naive_calls / idle_calls >= 10,
                    "time_at_least_5x_less": naive_s / idle_s >= 5},
        "drift": {"changed_behind_the_back": drift_profile,
                  "detected_in_next_idle_pass": f"UserProfile/{drift_profile}" in found,
                  "actions": found, "seconds": round(drift_s, 3), "aws_calls": drift_calls},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    ok = all(report["targets"].values()) and report["drift"]["detected_in_next_idle_pass"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
