"""Rules for Share path templates, and for the directories they render to.

A share's path is created and chowned as root on a file system many users share, so
it is held to a strict form: absolute, only [A-Za-z0-9._/{}-], no empty, . or ..
segments, no backslash, and only the {domain} and {profile} placeholders, as its scope
requires. Then every directory the estate actually needs is rendered and checked to
stay inside the share's root (names are SageMaker-valid already; this is belt and
braces), to belong to one share and one owner, and not to nest (overlaps.py). This
module must not check other kinds of reference; rules.py does.
"""

from __future__ import annotations

import posixpath
import re

from controller.desired.catalog import Catalog, ShareUse
from controller.desired.overlaps import check_overlaps
from controller.errors import Problem
from controller.model import ShareScope

_ALLOWED = re.compile(r"[A-Za-z0-9._/{}-]")
_PLACEHOLDER = re.compile(r"\{([^{}/]*)\}")
_PLACEHOLDERS = ("domain", "profile")
_CHARACTERS = ("use letters, digits, '.', '_', '-' and '/', plus the {domain} and {profile} "
               "placeholders")


def template_problems(path: str, scope: ShareScope) -> list[str]:
    """What is wrong with one path template, as messages (empty when it is fine)."""
    if not path.startswith("/"):
        return [f"must be an absolute path starting with / (for example /home/{{domain}}/"
                f"{{profile}}); found {path!r}"]
    found: list[str] = []
    if "\\" in path:
        found.append("must not contain a backslash; separate segments with /")
    odd = sorted({c for c in path if c != "\\" and not _ALLOWED.fullmatch(c)})
    if odd:
        found.append(f"contains characters that are not allowed ({' '.join(map(repr, odd))}); "
                     + _CHARACTERS)
    if path == "/":
        found.append("must name a directory below the root of the file system, not / itself")
    elif "//" in path:
        found.append("must not contain // (an empty segment)")
    elif path.endswith("/"):
        found.append("must not end with /")
    if any(segment in (".", "..") for segment in path.split("/")):
        found.append("must not contain . or .. segments: a share stays inside its directory")
    names = _PLACEHOLDER.findall(path)
    unknown = sorted({name for name in names if name not in _PLACEHOLDERS})
    if unknown:
        shown = ", ".join("{" + name + "}" for name in unknown)
        found.append(f"uses {shown}; only the placeholders {{domain}} and {{profile}} exist")
    if "{" in _PLACEHOLDER.sub("", path) or "}" in _PLACEHOLDER.sub("", path):
        found.append("has a { or } that is not part of a {domain} or {profile} placeholder")
    found.extend(_scope_problems(set(names), scope))
    return found


def _scope_problems(names: set[str], scope: ShareScope) -> list[str]:
    if scope is ShareScope.USER and "profile" not in names:
        return ["a user scope share's path must contain {profile}, so that each profile gets "
                "its own directory (for example /home/{domain}/{profile})"]
    if scope is ShareScope.DOMAIN:
        found = []
        if "domain" not in names:
            found.append("a domain scope share's path must contain {domain}, so that each "
                         "domain gets its own directory (for example /teams/{domain})")
        if "profile" in names:
            found.append("a domain scope share's path must not contain {profile}: the whole "
                         "domain shares one directory (use scope: user for one per profile)")
        return found
    if scope is ShareScope.ORGANISATION and names & set(_PLACEHOLDERS):
        return ["an organisation scope share's path must not contain {domain} or {profile}: "
                "every domain that lists the share uses the same directory"]
    return []


def share_root(path: str) -> str:
    """The fixed part of a template: the segments before the first placeholder."""
    fixed: list[str] = []
    for segment in path.strip("/").split("/"):
        if "{" in segment:
            break
        fixed.append(segment)
    return "/" + "/".join(fixed)


def check_paths(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    valid: set[str] = set()
    for name, share in sorted(catalog.shares.items()):
        messages = template_problems(share.spec.path, share.spec.scope)
        problems.extend(share.problem("path", message) for message in messages)
        if not messages:
            valid.add(name)
    owners: dict[tuple[str, str], ShareUse] = {}
    reported: set[tuple[str, str]] = set()
    inside: list[ShareUse] = []
    for use in catalog.uses():
        if use.share.spec.name not in valid:
            continue
        rendered = use.rendered
        if (problem := _escapes(use, rendered)) is not None:
            problems.append(problem)
            continue
        inside.append(use)
        first = owners.setdefault((use.share.spec.file_system, rendered), use)
        if _same_directory_owner(first, use) or (use.share.spec.name, rendered) in reported:
            continue
        reported.add((use.share.spec.name, rendered))
        problems.append(use.share.problem("path", (
            f"renders to {rendered} for {use.who}, the same directory on file system "
            f"{use.share.spec.file_system!r} as share {first.share.spec.name!r} for "
            f"{first.who} ({first.share.location}); every directory must belong to one "
            "share and one owner")))
    return problems + check_overlaps(inside)


def _escapes(use: ShareUse, rendered: str) -> Problem | None:
    root = share_root(use.share.spec.path)
    inside = root if root == "/" else root + "/"
    if posixpath.normpath(rendered) == rendered and (rendered + "/").startswith(inside):
        return None
    return use.share.problem("path", f"renders to {rendered} for {use.who}, which leaves the "
                             f"share's root {root}")


def _same_directory_owner(first: ShareUse, other: ShareUse) -> bool:
    # An organisation share listed by several domains is one directory, legitimately.
    if first.share is not other.share:
        return False
    if first.share.spec.scope is ShareScope.ORGANISATION:
        return True
    return (first.domain, first.profile) == (other.domain, other.profile)
