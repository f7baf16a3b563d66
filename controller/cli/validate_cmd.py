"""`studioctl validate PATH`: check a desired-state revision before committing it.

Prints a one-line summary and exits 0 when the revision is valid; otherwise prints one
line per problem on stderr (file:line: field.path: what is wrong and what is allowed),
then a count, and exits 1. It never prints a traceback for bad input and never talks
to AWS.
"""

from __future__ import annotations

import argparse
import sys

from controller.desired import load_desired_state
from controller.errors import DesiredStateError
from controller.model import DesiredState

EXIT_VALID, EXIT_INVALID = 0, 1

HELP = """\
Check a desired-state folder (searched recursively for *.yaml and *.yml; hidden files
and folders are skipped), or one YAML file holding the whole desired state, the way the
controller will before it accepts a revision:

  1. every file is UTF-8, at most 4 MiB, and safe YAML (no duplicate keys, no custom
     tags, no alias bombs);
  2. every document matches the JSON Schema of its kind (manifests/schemas/), with
     apiVersion studio-operator.io/v1alpha1 and kind Estate, FileSystem, Share, Domain
     or UserProfile;
  3. the documents agree with each other: one Estate whose activeRegion is one of its
     regions, every reference resolves, no two profiles on one file system share a uid,
     share paths stay inside their share, every domain has a network in both regions;
  4. SageMaker's limits hold: at most 10 file systems in each profile's and domain's
     list (shares on one file system count once), at most 4 security groups per domain
     network (domains are VpcOnly: SageMaker adds the fifth), and profiles name an IAM
     Identity Center user (singleSignOn) exactly when their domain's authMode is SSO.

Problems are printed one per line on stderr, as file:line: field.path: message, in a
stable order. Exit status: 0 valid, 1 invalid.

Examples:
  studioctl validate desired_state/
  studioctl validate estate-all-in-one.yaml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a desired-state folder or file (exit 1 if invalid)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", metavar="PATH",
                        help="the desired-state folder (for example desired_state/), or "
                             "one YAML file holding all of it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        state = load_desired_state(args.path)
    except DesiredStateError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        count = len(error.problems)
        print(f"invalid: {count} problem{'s' * (count != 1)} in {args.path}; the controller "
              "would refuse this revision and keep the last good one", file=sys.stderr)
        return EXIT_INVALID
    print(summary(state))
    return EXIT_VALID


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def summary(state: DesiredState) -> str:
    """valid: 1 estate, 1 file system, 3 shares, 2 domains, 7 profiles[, 1 notebook
    instance] (revision ...)."""
    notebooks = (f", {_count(len(state.notebooks), 'notebook instance')}"
                 if state.notebooks else "")
    return (f"valid: {_count(1, 'estate')}, {_count(len(state.file_systems), 'file system')}, "
            f"{_count(len(state.shares), 'share')}, {_count(len(state.domains), 'domain')}, "
            f"{_count(len(state.profiles), 'profile')}{notebooks} (revision {state.revision})")
