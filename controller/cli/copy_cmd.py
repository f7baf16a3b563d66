"""`studioctl copy SRC DST`: copy a directory tree with everything preserved, resumably.

This module parses options, shows progress and prints the report; the copying itself is
controller.fs.copy. It must not print tracebacks or delete anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controller.escaping import escape
from controller.fs.copy import CopyRefused, Progress, copy_tree, render_text
from controller.fs.copy.report import render_progress

EXIT_DONE, EXIT_ERRORS, EXIT_CONFLICTS = 0, 1, 2

HELP = """\
Copy the tree SRC onto DST (created if missing) the way a failover copy, an
active-active refresh or a restore needs it: file content, owners (uid/gid, when run as
root), modes including setgid/sticky, mtimes to the nanosecond, symlinks as links and
hard links as the same grouping.

It is safe to run again at any time: only what differs (type, size, mtime, mode, owner)
is copied; metadata-only differences are fixed without copying content; an interrupted
copy leaves no half-written files under their real names. Nothing in DST is ever
deleted: entries only DST has are counted as "extra" and left in place.

A file that is newer in DST than in SRC and differs is a conflict: it is left alone and
listed, unless --overwrite-newer. In the text report names are escaped C-style (\\n,
\\t, \\\\, \\xHH for a byte that is not UTF-8), one line per entry; --output json gives
them exact. Symlinks are never followed, in SRC or DST: a symlink in DST where SRC has a
directory is reported and that subtree is skipped.

Exit status: 0 done, 2 conflicts were left alone, 1 errors (each printed on one line).

Examples:
  studioctl copy /mnt/efs/fs-0123/home /mnt/efs/fs-4567/home --progress
  studioctl copy /mnt/efs/a /mnt/efs/b --dry-run --output json     what would change
  studioctl copy /mnt/efs/a /mnt/efs/b --workers 64     more requests in flight than
                                                      the default would choose
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "copy", help="copy a directory tree, preserving owners, modes, times and links",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", metavar="SRC", type=Path, help="the directory to copy from")
    parser.add_argument("dst", metavar="DST", type=Path,
                        help="the directory to copy into (its parent must exist)")
    parser.add_argument("--workers", type=_positive, default=None, metavar="N",
                        help="parallel workers; default: chosen from the file systems "
                             "(one per core on a local disk; on NFS/EFS or FUSE 16 to 64, "
                             "more the slower a round trip) and said in the report")
    parser.add_argument("--overwrite-newer", action="store_true",
                        help="replace entries that are newer in DST (still listed as "
                             "conflicts in the report)")
    parser.add_argument("--dry-run", action="store_true",
                        help="change nothing; report what would be copied and fixed")
    parser.add_argument("--progress", action="store_true",
                        help="print a one-line progress on stderr (default when stderr "
                             "is a terminal)")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people, json (the report as an object) for "
                             "programs; default: %(default)s")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    show = args.progress or sys.stderr.isatty()
    try:
        report = copy_tree(args.src, args.dst, workers=args.workers,
                           overwrite_newer=args.overwrite_newer,
                           progress=_print_progress if show else None, dry_run=args.dry_run)
    except CopyRefused as refusal:
        _end_progress(show)
        print(f"copy refused: {escape(str(refusal))}", file=sys.stderr)
        return EXIT_ERRORS
    _end_progress(show)
    if args.output == "json":
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    if report.errors:
        return EXIT_ERRORS
    return EXIT_CONFLICTS if report.conflicts_left else EXIT_DONE


def _print_progress(progress: Progress) -> None:
    # \r and clear-to-end keep it one line on a terminal; a log gets one line per tick.
    line = render_progress(progress)
    sys.stderr.write(f"\r\x1b[K{line}" if sys.stderr.isatty() else f"{line}\n")
    sys.stderr.flush()


def _end_progress(shown: bool) -> None:
    if shown and sys.stderr.isatty():
        sys.stderr.write("\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
