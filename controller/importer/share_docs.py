"""The Share documents of an imported estate, and which domain and profile lists them. Pure.

Each share directory found (controller.importer.shares) is an instance of a path
template; instances of one template on one file system make one Share. User shares
every profile of a domain has go in the domain's list, the others in the profiles'
own; domain shares in their domain's; an organisation share in the list of every domain
whose defaults attach the file system above it. A domain's space-backup folder (read
from the operator's lifecycle configs) becomes its backup share, and what is inside it
(the profiles' backup folders) is no share of its own. Without the file system mounted,
the paths the domains' and profiles' CustomFileSystemConfigs attach stand for the shares.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from controller.importer.documents import (
    Document,
    attached_path,
    envelope,
    join,
    posix_of,
    under,
    valid_name,
)
from controller.importer.read import LiveDomain, LiveRegion, file_system_ids
from controller.importer.shares import LiveDirectory, ShareInstance, classify


@dataclass
class InferredShares:
    documents: dict[str, Document] = field(default_factory=dict)
    by_domain: dict[str, list[str]] = field(default_factory=dict)  # domain -> shares
    by_profile: dict[str, list[str]] = field(default_factory=dict)  # "d/p" -> user shares
    backups: dict[str, str] = field(default_factory=dict)  # domain -> backup share
    notes: list[str] = field(default_factory=list)


def infer_shares(live: LiveRegion, fs_names: dict[str, str],
                 other_domains: set[str]) -> InferredShares:
    found = InferredShares()
    templates: dict[tuple[str, str], list[ShareInstance]] = {}
    roots = _backup_roots(live)
    for fs_id, fs in sorted(live.file_systems.items()):
        users = {d.name: {p.name: (posix_of(p.description.get("UserSettings")) or (0, 0))[0]
                          for p in d.profiles}
                 for d in live.domains if fs_id in file_system_ids(d)}
        directories = fs.directories if fs.directories is not None else _from_configs(
            live, fs_id)
        for directory in directories:
            if set(directory.path.strip("/").split("/")) & other_domains:
                found.notes.append(f"{fs_id}:{directory.path} names a domain not imported: "
                                   "left out")
                continue
            if any(f == fs_id and under(directory.path, root) for f, root, _ in roots):
                continue
            instance = classify(directory, users)
            templates.setdefault((fs_id, instance.template), []).append(instance)
    for fs_id, root, domain in roots:
        template = "/" + "/".join("{domain}" if p == domain else p
                                  for p in root.strip("/").split("/"))
        templates.setdefault((fs_id, template), []).append(
            ShareInstance(template, "backup", LiveDirectory(root, 0, 0, 0o755), domain))
    used: set[str] = set()
    for (fs_id, template), instances in sorted(templates.items()):
        name = _share_name(template, used)
        found.documents[name] = _document(live, fs_names[fs_id], name, template, instances)
        _list(live, found, fs_id, name, template, instances)
    return found


def _document(live: LiveRegion, file_system: str, name: str, template: str,
              instances: list[ShareInstance]) -> Document:
    scope = instances[0].scope
    modes = Counter(i.directory.mode for i in instances)
    mode = modes.most_common(1)[0][0]
    comments = [f"{len(instances)} director{'y' if len(instances) == 1 else 'ies'} found"]
    if scope == "backup":
        comments = ["the domain's space-backup folder (from the operator's lifecycle "
                    "configs); the profiles' backup folders inside it are not shares"]
    if len(modes) > 1:
        comments.append(f"modes differ between them ({', '.join(f'{m:04o}' for m in modes)})"
                        f": {mode:04o}, the most common, is written; the plan corrects "
                        "the others")
    spec: dict[str, Any] = {"fileSystem": file_system,
                            "scope": "domain" if scope == "backup" else scope,
                            "path": template, "mode": f"{mode:04o}"}
    owner = _owner(live, scope, instances)
    if owner is not None:
        spec["owner"] = owner
    return Document(envelope("Share", name, spec), comments)


def _list(live: LiveRegion, found: InferredShares, fs_id: str, name: str, template: str,
          instances: list[ShareInstance]) -> None:
    scope = instances[0].scope
    for instance in instances:
        if scope == "user" and instance.domain and instance.profile:
            found.by_profile.setdefault(f"{instance.domain}/{instance.profile}",
                                        []).append(name)
        elif scope in ("domain", "backup") and instance.domain:
            found.by_domain.setdefault(instance.domain, []).append(name)
            if scope == "backup":
                found.backups[instance.domain] = name
    if scope == "organisation":
        for domain in live.domains:
            attached = attached_path(domain.description.get("DefaultUserSettings", {}), fs_id)
            if attached is not None and under(template, attached):
                found.by_domain.setdefault(domain.name, []).append(name)


def _owner(live: LiveRegion, scope: str,
           instances: list[ShareInstance]) -> dict[str, int] | None:
    """A share's owner, when it is not what the operator gives it by default (a domain
    share: its domain's default ids; an organisation share: the first domain's)."""
    if scope in ("user", "backup"):
        return None
    first = instances[0].directory
    domains = sorted(live.domains, key=lambda d: d.name)
    chosen = next((d for d in domains if d.name == instances[0].domain),
                  domains[0] if domains else None)
    default = posix_of(chosen.description.get("DefaultUserSettings")) if chosen else None
    if default == (first.uid, first.gid):
        return None
    return {"uid": first.uid, "gid": first.gid}


def _backup_roots(live: LiveRegion) -> list[tuple[str, str, str]]:
    """(file system id, backup root path, domain) of each domain backing its spaces up."""
    roots = []
    for domain in live.domains:
        if domain.space_backup:
            fs_id, subdir = domain.space_backup
            settings = domain.description.get("DefaultUserSettings", {})
            roots.append((fs_id, join(attached_path(settings, fs_id) or "/", subdir),
                          domain.name))
    return roots


def _from_configs(live: LiveRegion, fs_id: str) -> list[LiveDirectory]:
    """Without the file system mounted: one share per attached path, as the domains and
    profiles name them (exact when each list holds one share of a file system)."""
    seen: dict[str, LiveDirectory] = {}
    for domain in live.domains:
        lists: list[tuple[dict[str, Any], LiveDomain | None]] = [
            (domain.description.get("DefaultUserSettings", {}), None)]
        lists += [(p.description.get("UserSettings", {}), domain) for p in domain.profiles]
        for settings, of_profile in lists:
            path = attached_path(settings, fs_id)
            if path is None or path == "/":
                continue
            uid, gid = (posix_of(settings) or (0, 0)) if of_profile else posix_of(
                settings) or (0, 0)
            seen.setdefault(path, LiveDirectory(path, uid, gid, 0o700))
    return list(seen.values())


def _share_name(template: str, used: set[str]) -> str:
    fixed = [p for p in template.strip("/").split("/") if p not in ("{domain}", "{profile}")]
    base = valid_name(fixed[-1] if fixed else "share")
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name
