"""`studioctl drill` (what `make drill` runs): a disaster-recovery drill in local mode.

The whole story on one machine: the emulator stands in for both regions; one
controller per region follows the same local git repository, as on AWS. Users' files
are written in the primary's share directories and replicated; the platform team flips
activeRegion in a git commit; the replica region's controller promotes its copy and
brings domains and profiles up there. The drill then checks every file arrived with the
same content, owner and mode, that every profile is Ready in the new region with the
same POSIX ids. Then it fails back: a file written in the old region after the failover
is saved into a recovery folder on the new active copy while the old region fences
itself, replication runs back until the old region is in sync, the flag is flipped back
and the old region comes up again. It prints the recovery and failback times and a
pass/fail summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from controller.cli.emulator_options import add_latency_options, describe, latency_model
from controller.logs import configure

HELP = """\
Run a failover drill locally (no AWS): converge the example estate in the primary
region, write users' files, let them replicate, flip activeRegion with a git commit,
and check that the replica region comes up with every file, owner and profile; then
fail back (fence the old region, save its late writes, replicate back, flip back).
Exit 0 when every check passed, 1 otherwise.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("drill", help="a local failover drill (make drill)",
                                   description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--desired", default="desired_state", metavar="PATH",
                        help="the estate to drill with; default: %(default)s")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="keep the drill's data here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds each phase may take; default: %(default)s")
    add_latency_options(parser, default="aws")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The drill runs the emulator, which only local mode may load (the image has no moto).
    from controller.cli.drill_story import Drill

    configure(level="warning", json=False)  # the drill narrates; controllers only warn
    for name, value in (("AWS_ACCESS_KEY_ID", "drill"), ("AWS_SECRET_ACCESS_KEY", "drill")):
        os.environ.setdefault(name, value)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="studio-drill-")).resolve()
    if data.exists() and any(data.iterdir()):
        print(f"{data} is not empty: give an empty or new --data-dir")
        return 1
    repo = data / "estate"
    shutil.copytree(Path(args.desired), repo / "desired_state")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "The estate")
    drill = Drill(repo, data, timeout=args.timeout, say=_say,
                  latency_model=latency_model(args))
    _say(f"emulator speed: {describe(args)}")
    result = drill.run(flip=lambda: _flip(repo))
    print()
    for check in result.checks:
        print(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    print()
    if result.recovery_seconds is not None:
        print(f"Recovery time: {result.recovery_seconds:.2f} s from the flip commit to every "
              f"resource Ready in {result.new_region} (controller-recorded: "
              f"{result.recorded_recovery_seconds:.2f} s)")
    if result.failback_seconds is not None:
        print(f"Failback: {result.failback_seconds:.2f} s from the flip-back commit to every "
              f"resource Ready again; late writes saved in {result.recovery_folder}")
    print(f"Drill {'PASSED' if result.passed else 'FAILED'}: "
          f"{sum(c.passed for c in result.checks)} of {len(result.checks)} checks")
    return 0 if result.passed else 1


def _flip(repo: Path) -> str:
    estate = repo / "desired_state" / "estate.yaml"
    text = estate.read_text()
    primary = _value(text, "primary")
    replica = _value(text, "replica")
    active = _value(text, "activeRegion")
    target = replica if active == primary else primary
    estate.write_text(text.replace(f"activeRegion: {active}", f"activeRegion: {target}"))
    _git(repo, "commit", "--quiet", "-am", f"Fail over to {target}")
    return target


def _value(text: str, key: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(f"{key}:"):
            return stripped.split(":", 1)[1].strip()
    raise ValueError(f"no {key} in the estate")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=drill", "-c",
                    "user.email=drill@localhost", *args], check=True, capture_output=True)


_LOCK = threading.Lock()
_START = time.monotonic()


def _say(message: str) -> None:
    with _LOCK:
        print(f"[{time.monotonic() - _START:6.1f}s] {message}", flush=True)
