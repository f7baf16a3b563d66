"""`studioctl import`: write the desired state of a live region, to adopt an estate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from controller.cli.common import resolve_efs_root
from controller.errors import DesiredStateError
from controller.gateway import AwsGateway
from controller.importer.infer import infer
from controller.importer.read import read_region
from controller.importer.write import write_files
from controller.observe import observe
from controller.plan import make_plan, render_text

EXIT_EMPTY, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

HELP = """\
Read a live region (its domains, their user profiles with POSIX ids, per-profile
settings and tags, the custom EFS file systems they attach, the shares found on those
file systems, replication, the network names) and write a desired state for it into
--out: the way to adopt an estate. What the desired state cannot express is kept as
comments saying why; nothing secret is written. Then the new desired state is validated
and planned against the same region: it should plan no changes.

Mount the file systems under --efs-root (as for plan) so the shares are read from the
directories themselves; without it they are guessed from the attached paths.

  studioctl import --region us-east-1 --out adopted/ --efs-root /mnt/efs
  studioctl import --region us-east-1 --domain research --replica-region us-west-2 \\
      --out adopted/ --endpoint-url http://127.0.0.1:5000 --efs-root .local/aws/efs

Exit status: 0 written and it plans no changes, 2 written but it plans changes (printed),
1 an error (nothing written, or what was written is invalid).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import", help="write the desired state of a live region (adopt an estate)",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", required=True, help="the region to read")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the folder to write the desired state into")
    parser.add_argument("--domain", action="append", default=None, metavar="NAME",
                        help="import only this domain (repeat for several); default: all")
    parser.add_argument("--replica-region", default=None, metavar="REGION",
                        help="the estate's replica region; default: where its file "
                             "systems replicate to")
    parser.add_argument("--estate-name", default="imported", metavar="NAME",
                        help="the Estate's name; default: %(default)s")
    parser.add_argument("--efs-root", default=None, metavar="DIR",
                        help="where the file systems are mounted, one folder per file "
                             "system id (as for plan)")
    parser.add_argument("--endpoint-url", default=None, metavar="URL",
                        help="AWS endpoint (the local emulator); default: $AWS_ENDPOINT_URL")
    parser.add_argument("--max-attempts", type=int, default=5, metavar="N",
                        help="botocore's attempts per AWS call; default: %(default)s")
    parser.add_argument("--force", action="store_true",
                        help="replace files of the same names already in --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from controller.desired import load_desired_state

    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    efs_root = resolve_efs_root(args.efs_root)
    try:
        live = read_region(gateway, args.region, args.domain, efs_root)
        others = set(_all_domain_names(gateway, args.region)) - {d.name for d in live.domains}
        imported = infer(live, args.estate_name, args.replica_region, others)
    except (BotoCoreError, ClientError) as error:
        print(f"could not read {args.region}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return EXIT_ERROR
    if not live.domains:
        print(f"no domain to import in {args.region}", file=sys.stderr)
        return EXIT_ERROR
    out = Path(args.out)
    try:
        written = write_files(out, imported.files, args.force)
    except FileExistsError as error:
        print(f"{error} exists: give another --out, or --force to replace it", file=sys.stderr)
        return EXIT_ERROR
    for note in imported.notes:
        print(f"note: {note}")
    print(f"wrote {len(written)} file(s) into {out}: "
          f"{', '.join(p.name for p in written)}")
    try:
        desired = load_desired_state(out)
    except DesiredStateError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print("the imported desired state is invalid (see above): fix it by hand",
              file=sys.stderr)
        return EXIT_ERROR
    plan = make_plan(desired, observe(gateway, desired, args.region, efs_root))
    if plan.empty and not plan.problems:
        print(f"checked: it plans no changes in {args.region}")
        return EXIT_EMPTY
    print(f"checked: it plans changes in {args.region} (the comments in the files say "
          "what could not be expressed):")
    sys.stdout.write(render_text(plan))
    return EXIT_CHANGES


def _all_domain_names(gateway: AwsGateway, region: str) -> list[str]:
    sagemaker = gateway.client("sagemaker", region)
    names: list[str] = []
    for page in sagemaker.get_paginator("list_domains").paginate():
        names += [d["DomainName"] for d in page["Domains"]]
    return names
