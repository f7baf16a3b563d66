"""Share directories on a mounted file system, for `studioctl import`, and what they are.

The operator makes the folders above a share as root and each share directory owned by
its user (a profile, a domain's default ids, a share's owner); so the share directories
of a file system are the first directories on each path from its root that root does
not own. `walk_share_candidates` finds them without following a link, looking only into
root's directories, at most MAX_DEPTH deep and MAX_ENTRIES entries in all (a folder any
user can write in could hold anything); the operator's own folders and EFS's
replication lost+found folders are skipped. `classify` then says which share each one
is an instance of: a user share (its path names a profile whose uid owns it), a domain
share (its path names a domain), or an organisation share. Nothing here writes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from controller.fencing import LOST_AND_FOUND_PREFIX, RECOVERY_ROOT

MAX_DEPTH = 6
MAX_ENTRIES = 20_000
_SKIPPED = (".studio-operator", LOST_AND_FOUND_PREFIX, "lost+found", RECOVERY_ROOT)


@dataclass(frozen=True)
class LiveDirectory:
    path: str  # absolute inside the file system
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True)
class ShareInstance:
    """One share directory, as an instance of a path template."""

    template: str  # "/home/{domain}/{profile}", "/teams/{domain}", "/shared/datasets"
    scope: str  # user, domain, organisation
    directory: LiveDirectory
    domain: str | None = None
    profile: str | None = None


def walk_share_candidates(mount: Path) -> list[LiveDirectory]:
    found: list[LiveDirectory] = []
    budget = [MAX_ENTRIES]
    _walk(mount, "", 0, found, budget)
    return sorted(found, key=lambda d: d.path)


def _walk(folder: Path, path: str, depth: int, found: list[LiveDirectory],
          budget: list[int]) -> None:
    if depth >= MAX_DEPTH:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if entry.name.startswith(_SKIPPED) or not entry.is_dir(follow_symlinks=False):
            continue
        info = entry.stat(follow_symlinks=False)
        child = f"{path}/{entry.name}"
        if info.st_uid == 0:
            _walk(Path(entry.path), child, depth + 1, found, budget)
        else:
            found.append(LiveDirectory(child, info.st_uid, info.st_gid,
                                       stat.S_IMODE(info.st_mode)))


def classify(directory: LiveDirectory, domains: dict[str, dict[str, int]]) -> ShareInstance:
    """`domains`: domain name -> {profile name: its POSIX uid}, for the domains that
    attach this file system."""
    parts = directory.path.strip("/").split("/")
    for domain, profiles in sorted(domains.items()):
        for index, part in enumerate(parts):
            if profiles.get(part) == directory.uid:
                template = [("{profile}" if i == index else
                             "{domain}" if p == domain else p) for i, p in enumerate(parts)]
                if "{domain}" in template or _unique_profile(part, domains):
                    return ShareInstance("/" + "/".join(template), "user", directory,
                                         domain, part)
    for domain in sorted(domains):
        if domain in parts:
            template = ["{domain}" if p == domain else p for p in parts]
            return ShareInstance("/" + "/".join(template), "domain", directory, domain)
    return ShareInstance(directory.path, "organisation", directory)


def _unique_profile(name: str, domains: dict[str, dict[str, int]]) -> bool:
    """A path with a profile's name but no domain's: a user share only if no other domain
    has a profile of that name (else the template could not tell them apart)."""
    return sum(1 for profiles in domains.values() if name in profiles) == 1
