"""`studioctl restore`: one restore now, from a snapshot or a live home, outside git.

It runs the same restore a Restore document makes the controller run (plan.snapshots
.restore_params resolves where it reads and writes, actions.restore_run.run_restore does
it), in this process, with progress on a terminal and the outcome as text or JSON.
No Restore status is kept (a one-off is not part of the desired state), but the run,
whatever its result, is appended to the region's history (controller.cli.job_history).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

from controller.actions.context import ExecutionContext
from controller.actions.restore_run import restore_source, run_restore
from controller.cli.common import (
    add_common_options,
    load_or_report,
    resolve_efs_root,
    resolve_region,
)
from controller.cli.job_history import add_history_options, record, requester
from controller.cli.job_progress import ProgressLine, Reading
from controller.errors import RequeueAfter, TerminalError
from controller.escaping import escape
from controller.gateway import AwsGateway
from controller.observe import observe
from controller.plan.snapshots import restore_params
from controller.snapshots.manifest import ManifestError, parse_id
from controller.snapshots.remap import parse_id_map
from controller.snapshots.restore import MODES, RestoreProgress, RestoreReport, SnapshotRefused
from controller.snapshots.spec import RestoreSpec
from controller.status.history import HistoryEntry

EXIT_DONE, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2

HELP = """\
Restore a snapshot (or copy a live profile's home) into a profile's home or a share
directory, now. The same restore a Restore document runs, without one: no status is
kept, run it again and it restores again. Each run is appended to the region's history
(`studioctl history`), asked by --requested-by (default: your OS user).

From (one of):
  --from SNAPSHOT_ID          a snapshot (`studioctl snapshot list`); its policy's bucket
  --from-profile DOMAIN/NAME  that profile's home as it is now (its first user share)
To (one of):
  --to-profile DOMAIN/NAME    that profile's home (--to-share NAME: another of its user
                              shares); the profile must exist in the region
  --to-share NAME             a share's directory (--to-domain NAME for a domain share)
How:
  --mode newFolder            into a new folder restored-<time>/ in the target (default)
  --mode fillMissing          add what the target lacks; nothing in it is replaced
  --mode overwriteOlder       also replace files that are older in the target
  --owners keep|map|target    owners as archived (default), remapped by --uid-map and
                              --gid-map (implied by them), or all given to the target
                              profile's uid and gid
  --uid-map 500:1000          a uid to change (repeat for more); --gid-map likewise

Safety: every part is checked against the manifest and (encrypted) every frame's tag
while the archive is extracted into a root-only staging folder in the target; nothing
appears there until the whole stream verified. Names that reach outside the target,
links followed by files, and hard links to anything the restore did not make refuse
the whole archive. Set-id bits survive only with the owner the archive names.

Progress (files, bytes, rate, ETA) on stderr when it is a terminal. Exit status:
0 restored, 2 refused (the snapshot failed verification or is hostile: nothing was
written), 1 any other error (said on stderr).

Examples, against the local emulator:
  studioctl restore --from nightly/home/research/alice/home/20270115T080000Z-5fc4 \\
      --to-profile analytics/dave --owners target --endpoint-url http://127.0.0.1:5000 \\
      --efs-root .local/aws/efs
  studioctl restore --from-profile research/alice --to-profile analytics/dave \\
      --mode fillMissing --uid-map 200001:200101 --output json ...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("restore", help="restore a snapshot or a live home now",
                                   description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="snapshot", metavar="SNAPSHOT_ID")
    source.add_argument("--from-profile", metavar="DOMAIN/NAME")
    parser.add_argument("--to-profile", metavar="DOMAIN/NAME")
    parser.add_argument("--to-share", metavar="NAME")
    parser.add_argument("--to-domain", metavar="NAME")
    parser.add_argument("--mode", choices=MODES, default="newFolder")
    parser.add_argument("--owners", choices=("keep", "map", "target"))
    parser.add_argument("--uid-map", action="append", default=[], metavar="OLD:NEW")
    parser.add_argument("--gid-map", action="append", default=[], metavar="OLD:NEW")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    add_history_options(parser)
    parser.set_defaults(func=run)


def spec_of(args: argparse.Namespace) -> RestoreSpec:
    """The options as a Restore's spec; ValueError says what is wrong with them."""
    if not args.to_profile and not args.to_share:
        raise ValueError("say where to restore: --to-profile DOMAIN/NAME or --to-share NAME")
    if args.snapshot:
        parse_id(args.snapshot)
    uid_map, gid_map = parse_id_map(args.uid_map), parse_id_map(args.gid_map)
    owners = args.owners or ("map" if uid_map or gid_map else "keep")
    if (uid_map or gid_map) and owners != "map":
        raise ValueError("--uid-map and --gid-map go with --owners map")
    if owners == "target" and not args.to_profile:
        raise ValueError("--owners target gives everything to the target profile: it needs "
                         "--to-profile")
    return RestoreSpec(name="studioctl", snapshot=args.snapshot,
                       live_profile=args.from_profile, to_profile=args.to_profile,
                       to_share=args.to_share, to_domain=args.to_domain, mode=args.mode,
                       owners=owners, uid_map=uid_map, gid_map=gid_map)


def run(args: argparse.Namespace) -> int:
    try:
        spec = spec_of(args)
        who = requester(args)
    except (ValueError, ManifestError) as error:
        print(f"restore: {error}", file=sys.stderr)
        return EXIT_ERROR
    desired = load_or_report(args.desired)
    if desired is None:
        return EXIT_ERROR
    region = resolve_region(args.region, desired)
    efs_root = resolve_efs_root(args.efs_root)
    if region is None or efs_root is None:
        if efs_root is None:
            print("restore: no --efs-root: the file systems must be mounted", file=sys.stderr)
        return EXIT_ERROR
    gateway = AwsGateway(endpoint_url=args.endpoint_url, max_attempts=args.max_attempts)
    progress = RestoreProgress()
    params: dict = {}
    began = time.monotonic()

    def history(result: str, message: str, report: RestoreReport | None = None) -> None:
        source = (restore_source(params) if params else "") or (
            spec.snapshot or f"profile {spec.live_profile}")
        target = (f"{params['FileSystemId']}:{params['Path']}" if "FileSystemId" in params
                  else spec.to_profile or f"share {spec.to_share}")
        record(args, gateway, region, desired, [HistoryEntry(
            time.time(), "restore", who, region, result, source,
            target + (f"/{report.placed_in}" if report and report.placed_in != "." else ""),
            spec.to_profile or "", report.files if report else None,
            report.bytes if report else None,
            round(report.seconds if report else time.monotonic() - began, 3),
            f"studioctl restore --mode {spec.mode} --owners {spec.owners}"
            + (f": {message}" if message else ""))])

    try:
        observed = observe(gateway, desired, region, efs_root)
        params = restore_params(desired, observed, spec)
        if "Wait" in params:
            raise RequeueAfter(0, params["Wait"])
        ctx = ExecutionContext(gateway, region, efs_root, desired.revision, desired=desired)
        line = ProgressLine(lambda: Reading(progress.files, progress.bytes,
                                            progress.read_bytes, progress.total_bytes))
        try:
            report = run_restore(ctx, params, lambda: False, progress)
        finally:
            line.stop()
    except SnapshotRefused as error:
        history("refused", str(error)[:500])
        print(f"restore refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except RequeueAfter as wait:
        print(f"restore: cannot start yet: {wait.reason}", file=sys.stderr)
        return EXIT_ERROR  # nothing was tried: nothing to record
    except (ManifestError, TerminalError, OSError, BotoCoreError, ClientError) as error:
        history("failed", f"{type(error).__name__}: {error}"[:500])
        print(f"restore: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    history("ok", f"{report.skipped_count} skipped", report)
    target = f"{params['FileSystemId']}:{params['Path'].rstrip('/')}/{report.placed_in}"
    if args.output == "json":
        print(json.dumps({"from": spec.snapshot or f"profile {spec.live_profile}",
                          "to": target, **report.as_dict()}, indent=2))
        return EXIT_DONE
    print(f"restored {report.files} files ({report.bytes} bytes), {report.directories} "
          f"directories, {report.symlinks} symlinks, {report.hard_links} hard links in "
          f"{report.seconds:.1f}s into {escape(target)}")
    for path, reason in report.skipped:
        print(f"  skipped: {path}: {reason}")  # names escaped by the restore
    if report.skipped_count > len(report.skipped):
        print(f"  ... and {report.skipped_count - len(report.skipped)} more "
              "(see --output json)")
    for note in report.notes:
        print(f"  note: {note}")
    return EXIT_DONE
