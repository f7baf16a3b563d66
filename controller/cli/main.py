"""studioctl's entry point: builds the argument parser from one module per command.

Each command module exposes `register(subparsers)` which adds its parser and sets
`func(args) -> int` (the exit code). Errors meant for people are printed, never raised
as tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controller import __version__
from controller.fs.limits import raise_open_file_limit

DESCRIPTION = """\
studio-operator keeps Amazon SageMaker Studio estates (domains, user profiles, custom
EFS shares, a replica region) converged to a desired state kept in git.

Typical use:
  studioctl validate desired_state/            check a revision before committing it
  studioctl plan --desired desired_state/ --region us-east-1
                                              show what would change (exit 2 if anything)
  studioctl emulator --port 5000 --data-dir .local/aws --prepare desired_state/
                                              run the local AWS emulator (no AWS needed)
"""


def build_parser() -> argparse.ArgumentParser:
    from controller.cli import (
        apply_cmd,
        copy_cmd,
        demo_cmd,
        drill_cmd,
        emulator_cmd,
        plan_cmd,
        preflight_cmd,
        restore_cmd,
        run_cmd,
        snapshot_cmd,
        status_cmd,
        validate_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="studioctl",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"studioctl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (validate_cmd, plan_cmd, apply_cmd, run_cmd, status_cmd, preflight_cmd,
                   snapshot_cmd, restore_cmd, copy_cmd, demo_cmd, drill_cmd, emulator_cmd):
        module.register(subparsers)
    return parser


def run_startup_hooks() -> None:
    """Process-wide set-up every command gets before it runs, in this order.

    STARTUP HOOKS: the one place for them. Add one line per hook; a hook must be quick,
    must not print, and must not fail the command when the platform does not allow what
    it asks (it may log why).
    """
    raise_open_file_limit()  # copies and saves of large trees, metrics, AWS calls at once


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    run_startup_hooks()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
