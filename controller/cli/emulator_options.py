"""The emulator's speed, as options of the local-mode commands (emulator, demo, drill).

--latency-model, --latency-scale and --no-rate-limits turn on AWS's latencies and rate
limits in the emulator (controller/emulator/pacing.py). Building the parser must not
load the emulator (the image has no moto): it is imported only when a plan is made.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_latency_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--latency-model", choices=("off", "aws"), default=default,
        help="aws: the emulator answers each call as slowly as AWS does (tens of ms for "
             "reads, hundreds for creates) and throttles with per-operation token buckets "
             "as AWS does (controller/emulator/pacing.py); off: the emulator's own speed; "
             "default: %(default)s")
    parser.add_argument(
        "--latency-scale", type=float, default=1.0, metavar="F",
        help="multiply every latency by F (with --latency-model aws); default: %(default)s")
    parser.add_argument(
        "--no-rate-limits", action="store_true",
        help="latencies only, never throttle (with --latency-model aws)")


def latency_model(args: argparse.Namespace) -> Any:
    """What start_emulator's `latency_model` takes: False (off) or a PacingPlan."""
    if args.latency_model == "off":
        return False
    if args.latency_scale < 0:
        raise ValueError("--latency-scale must be >= 0")
    from controller.emulator.pacing import PacingPlan  # local mode only

    return PacingPlan(rate_limits=not args.no_rate_limits, scale=args.latency_scale)


def describe(args: argparse.Namespace) -> str:
    """One line for the command's banner."""
    if args.latency_model == "off":
        return "off (the emulator's own speed)"
    return (f"AWS's latencies x{args.latency_scale:g}, rate limits "
            f"{'off' if args.no_rate_limits else 'on'}")
