"""No share directory lies inside another, or inside a folder the operator or EFS keeps.

Every directory the estate needs (each share rendered for each domain and profile) is
made and given to its owner as root. When one lies inside another, whoever can write in
the outer one can move the inner one aside and put their own in its place, which the
operator would then hand to the inner directory's owner: a team share at /home/{domain}
above the homes at /home/{domain}/{profile}, a share inside someone's home. Folders at
the root that the operator (/.studio-operator-recovery and any /.studio-operator*) or
EFS (efs-replication-lost+found-*) writes are reserved for them.

The per-profile folders the operator makes inside a space-backup share are not shares
and are not checked here: nesting them there is the point. The check sorts the paths
once (no pairwise comparison), so it stays fast on thousands of profiles. This module
must not check a path's form (paths.py does) or any other kind of rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.desired.catalog import ShareUse
from controller.errors import Problem

# First segments of a path that belong to the operator or to EFS, never to a share.
RESERVED_PREFIXES = (
    (".studio-operator", "the operator's own folders (recovery, journals) are "
                         "/.studio-operator*"),
    ("efs-replication-lost", "EFS writes efs-replication-lost+found-* folders at the root "
                             "of a replica it makes writable"),
)


@dataclass(frozen=True)
class _Directory:
    file_system: str
    parts: tuple[str, ...]
    use: ShareUse

    @property
    def path(self) -> str:
        return "/" + "/".join(self.parts)


def check_overlaps(uses: Iterable[ShareUse]) -> list[Problem]:
    """Problems for reserved paths, and one per pair of shares whose directories nest."""
    problems: list[Problem] = []
    directories: dict[tuple[str, str], _Directory] = {}
    for use in uses:
        rendered = use.rendered
        parts = tuple(part for part in rendered.split("/") if part)
        if reserved := _reserved(parts):
            problems.append(use.share.problem("path", (
                f"renders to {rendered} for {use.who}, inside a reserved folder: {reserved}; "
                "choose a path outside them")))
            continue
        # The same directory twice is paths.py's to report (or an organisation share).
        directories.setdefault((use.share.spec.file_system, rendered),
                               _Directory(use.share.spec.file_system, parts, use))
    return problems + _nested(sorted(directories.values(),
                                     key=lambda d: (d.file_system, d.parts)))


def _reserved(parts: tuple[str, ...]) -> str | None:
    if not parts:
        return None
    for prefix, why in RESERVED_PREFIXES:
        if parts[0].startswith(prefix):
            return why
    return None


def _nested(ordered: list[_Directory]) -> list[Problem]:
    """Sorted by segments, a directory's ancestors come right before its subtree: keep
    the chain of open ancestors on a stack and compare each directory with its top."""
    first: dict[tuple[str, str], tuple[_Directory, _Directory]] = {}
    more: dict[tuple[str, str], int] = {}
    stack: list[_Directory] = []
    for directory in ordered:
        while stack and not _contains(stack[-1], directory):
            stack.pop()
        if stack:
            outer = stack[-1]
            pair = (outer.use.share.spec.name, directory.use.share.spec.name)
            if pair in first:
                more[pair] = more.get(pair, 0) + 1
            else:
                first[pair] = (outer, directory)
        stack.append(directory)
    return [_problem(outer, inner, more.get(pair, 0))
            for pair, (outer, inner) in first.items()]


def _contains(outer: _Directory, inner: _Directory) -> bool:
    return (outer.file_system == inner.file_system
            and len(outer.parts) < len(inner.parts)
            and inner.parts[:len(outer.parts)] == outer.parts)


def _problem(outer: _Directory, inner: _Directory, more: int) -> Problem:
    share = outer.use.share
    where = share.document.location(share.path("path"))
    others = f" (and {more} more directories of share {inner.use.share.spec.name!r} " \
             "inside it)" if more else ""
    return inner.use.share.problem("path", (
        f"renders to {inner.path} for {inner.use.who}, inside {outer.path}, the directory of "
        f"share {share.spec.name!r} for {outer.use.who} ({where}) on file system "
        f"{inner.file_system!r}{others}; share directories must not nest: whoever can "
        f"write in {outer.path} could replace {inner.path} with a directory of their own"))
