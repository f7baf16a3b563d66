"""Cross-document rules: what no single document's schema can see.

Exactly one Estate whose active region is one of its two distinct regions; names
unique per kind (profiles per domain, table rows included); every reference resolves
to a document of the right kind (and a profile's own shares are user scope); no two
profiles with user shares on one file system share a uid; every domain has a network
in both estate regions; file system placements are well formed and cover the regions
they must; a space-backup share's root can be the operator's (no owner, not writable by
group or others: the lifecycle scripts refuse anything else); share paths are safe and
do not nest (paths.py, overlaps.py); Studio's limits and SSO rules hold
(studio_limits.py); notebook instances are well placed and named (notebook_rules.py).
Each problem is reported at the line of
the field that refers or is wrong, and names the other party where there is one.

The rules run only over documents that passed their schemas. They must not build the
DesiredState or stop at the first problem: a revision's problems are listed together.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from controller.desired.build import Located, Specs
from controller.desired.catalog import Catalog
from controller.desired.notebook_rules import check_notebooks
from controller.desired.paths import check_paths
from controller.desired.snapshot_rules import check_snapshot_rules
from controller.desired.studio_limits import check_studio_limits
from controller.errors import Problem
from controller.model import EstateSpec, Mode, ShareScope


def check_rules(specs: Specs, root: str) -> list[Problem]:
    catalog = Catalog.of(specs)
    problems = [*_estate_rules(specs, root), *_unique_names(specs), *_references(catalog)]
    estate = specs.estates[0].spec if specs.estates else None
    # Region rules against an estate whose own regions are wrong would only add noise.
    if estate is not None and estate.primary_region != estate.replica_region:
        problems += _networks(catalog, estate)
        problems += _placements(catalog, estate)
    problems += _shared_uids(catalog)
    problems += _space_backup_shares(catalog)
    problems += check_paths(catalog)
    problems += check_snapshot_rules(specs, catalog, estate)
    problems += check_studio_limits(catalog)
    problems += check_notebooks(specs, estate)
    return sorted(set(problems))


def _estate_rules(specs: Specs, root: str) -> list[Problem]:
    if not specs.estates:
        return [Problem(root, 0, "", "no Estate document found; exactly one is required "
                        "(kind: Estate, naming the two regions and the active one)")]
    first = specs.estates[0]
    problems = [extra.problem("name", f"a second Estate; exactly one is allowed and "
                              f"{first.spec.name!r} is declared at {first.location}")
                for extra in specs.estates[1:]]
    for located in specs.estates:
        estate = located.spec
        if estate.primary_region == estate.replica_region:
            problems.append(located.document.problem(
                ("spec", "regions", "replica"), f"must differ from regions.primary "
                f"({estate.primary_region}): the replica is the disaster-recovery region"))
        if estate.active_region not in estate.regions:
            problems.append(located.problem(
                "activeRegion", f"must be the primary region ({estate.primary_region}) or the "
                f"replica region ({estate.replica_region}); found {estate.active_region}"))
        if estate.fence_without_takeover and estate.mode is Mode.ACTIVE_ACTIVE:
            problems.append(located.document.problem(
                ("spec", "failover", "fenceWithoutTakeover"),
                "applies to active-passive estates only: in active-active mode the standby "
                "region keeps serving and is never fenced by a flip"))
    return problems


def _unique_names(specs: Specs) -> list[Problem]:
    problems: list[Problem] = []
    groups: Iterable[tuple[str, list[Located[Any]]]] = (
        ("FileSystem", specs.file_systems), ("Share", specs.shares),
        ("Domain", specs.domains))
    for kind, items in groups:
        first: dict[str, Located[Any]] = {}
        for item in items:
            seen = first.setdefault(item.spec.name, item)
            if seen is not item:
                problems.append(item.problem("name", f"duplicate {kind} name "
                                             f"{item.spec.name!r}; first declared at "
                                             f"{seen.location}"))
    profiles: dict[str, Located[Any]] = {}
    for profile in specs.profiles:
        seen = profiles.setdefault(profile.spec.qualified_name, profile)
        if seen is not profile:
            problems.append(profile.problem("name", f"profile {profile.spec.name!r} is declared "
                                            f"twice in domain {profile.spec.domain!r}; first "
                                            f"at {seen.location}"))
    return problems


def _missing(kind: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    guess = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {guess[0]!r}? " if guess else ""
    listed = f"declared: {', '.join(names)}" if names else f"no {kind} is declared"
    return f"no {kind} named {name!r}; {hint}{listed}"


def _references(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    for located in catalog.shares.values():
        if located.spec.file_system not in catalog.file_systems:
            problems.append(located.problem("fileSystem", _missing(
                "FileSystem", located.spec.file_system, catalog.file_systems)))
    for domain in catalog.domains.values():
        for index, name in enumerate(domain.spec.shares):
            if name not in catalog.shares:
                problems.append(domain.problem("shares", _missing("Share", name,
                                                                  catalog.shares), index))
        backup = domain.spec.space_backup.share
        if backup is not None and backup not in catalog.shares:
            problems.append(domain.document.problem(("spec", "spaceBackup", "share"),
                                                    _missing("Share", backup, catalog.shares)))
    for profile in catalog.profiles.values():
        if profile.spec.domain not in catalog.domains:
            problems.append(profile.problem("domain", _missing(
                "Domain", profile.spec.domain, catalog.domains)))
        for index, name in enumerate(profile.spec.shares):
            share = catalog.shares.get(name)
            if share is None:
                problems.append(profile.problem("shares", _missing("Share", name,
                                                                   catalog.shares), index))
            elif share.spec.scope is not ShareScope.USER:
                problems.append(profile.problem("shares", (
                    f"share {name!r} has scope {share.spec.scope.value}; a profile can only add "
                    "user scope shares (list domain and organisation shares in the domain's "
                    "spec.shares)"), index))
    return problems


def _networks(catalog: Catalog, estate: EstateSpec) -> list[Problem]:
    regions = ", ".join(estate.regions)
    why = ("either can become active" if estate.mode is Mode.ACTIVE_ACTIVE else
           "either can become active, and failover creates the domain in the standby region")
    problems: list[Problem] = []
    for domain in catalog.domains.values():
        networks = domain.spec.networks
        for region in dict.fromkeys(estate.regions):
            if region not in networks:
                problems.append(domain.problem("network", (
                    f"has no network for {region}; a domain needs one in both estate regions "
                    f"({regions}) because {why}")))
        for region in networks:
            if region not in estate.regions:
                problems.append(domain.problem("network", (
                    f"{region} is not an estate region; networks are for the estate's regions "
                    f"({regions}) only"), region))
    return problems


def _placements(catalog: Catalog, estate: EstateSpec) -> list[Problem]:
    problems: list[Problem] = []
    used = catalog.used_file_systems()
    for name, located in catalog.file_systems.items():
        spec = located.spec
        for region, placement in spec.placements.items():
            given = [key for key, value in (("fileSystemId", placement.file_system_id),
                                            ("nameTag", placement.name_tag)) if value]
            if len(given) != 1:
                found = "both" if given else "neither"
                problems.append(located.problem("regions", (
                    "give exactly one of fileSystemId (adopt that file system) or nameTag "
                    f"(adopt, or create, the file system with that Name tag); found {found}"),
                    region))
            elif placement.create is not None and placement.name_tag is None:
                problems.append(located.document.problem(
                    ("spec", "regions", region, "create"), "create needs nameTag: a new file "
                    "system is tagged Name=<nameTag> so later passes find it; with "
                    "fileSystemId the file system must already exist"))
            if region not in estate.regions:
                problems.append(located.problem("regions", (
                    f"{region} is not an estate region; placements are for the primary "
                    f"({estate.primary_region}) and replica ({estate.replica_region}) "
                    "regions only"), region))
        if spec.replicate:
            if estate.primary_region not in spec.placements:
                problems.append(located.problem("regions", (
                    f"needs a placement for the primary region {estate.primary_region}: "
                    "replication starts from it (with replicate: true only the replica "
                    f"region's placement, {estate.replica_region}, may be omitted)")))
            continue
        for region in dict.fromkeys(estate.regions):
            if name in used and region not in spec.placements:
                domains = ", ".join(used[name])
                problems.append(located.problem("regions", (
                    f"needs a placement for {region}: domain(s) {domains} use shares on it and "
                    "either region can become active; add one, or set replicate: true to have "
                    "EFS replication make it")))
    return problems


def _shared_uids(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    holders: dict[tuple[str, int], Located[Any]] = {}
    for profile in catalog.profiles.values():
        uid = profile.spec.posix.uid
        file_systems = dict.fromkeys(s.spec.file_system for s in
                                     catalog.user_shares_of(profile.spec))
        for file_system in file_systems:
            holder = holders.setdefault((file_system, uid), profile)
            if holder is not profile:
                problems.append(profile.problem("uid", (
                    f"uid {uid} is also the uid of profile {holder.spec.qualified_name} "
                    f"({holder.location}); profiles {holder.spec.qualified_name} and "
                    f"{profile.spec.qualified_name} both have user shares on file system "
                    f"{file_system!r}, so they need distinct uids")))
                break
    return problems


def _space_backup_shares(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for domain in catalog.domains.values():
        backup = domain.spec.space_backup
        share = catalog.shares.get(backup.share) if backup.enabled and backup.share else None
        if share is None or share.spec.name in seen:
            continue
        seen.add(share.spec.name)
        if share.spec.mode & 0o022:
            problems.append(share.problem("mode", (
                f"{share.spec.mode:04o} lets group or others write in the space-backup root; "
                "the lifecycle scripts refuse a backup root writable by group or others "
                "(anyone who can write in it could replace a profile's folder): use 0755 or "
                "0711")))
        if share.spec.owner is not None:
            problems.append(share.problem("owner", (
                "a space-backup share's root is owned by root (the operator makes each "
                "profile's folder in it, owned by that profile); remove owner")))
    return problems
