"""Cross-document rules for SnapshotPolicy and Restore documents.

A policy's shares, domains and profiles resolve (its shares are domain or organisation
scope: homes are chosen with `homes`), its schedule parses, it has a bucket for each
estate region (either can become active) and a key when it encrypts. A restore names
one source and one target that make sense together; its target profile may be
undeclared yet (the restore then waits for it, like the write-ups' replication
target), but a share or policy it names must exist. Each problem is reported at its
field's line. It must not build specs or stop at the first problem.
"""

from __future__ import annotations

from controller.desired.build import Located, Specs
from controller.desired.catalog import Catalog
from controller.errors import Problem
from controller.model import EstateSpec, ShareScope
from controller.snapshots.manifest import ManifestError, parse_id
from controller.snapshots.schedule import ScheduleError, parse_duration, validate
from controller.snapshots.spec import RestoreSpec, SnapshotPolicySpec


def check_snapshot_rules(specs: Specs, catalog: Catalog,
                         estate: EstateSpec | None) -> list[Problem]:
    problems: list[Problem] = []
    for kind, items in (("SnapshotPolicy", specs.snapshot_policies),
                        ("Restore", specs.restores)):
        first: dict[str, Located[object]] = {}
        for item in items:
            name = item.spec.name  # type: ignore[attr-defined]
            seen = first.setdefault(name, item)  # type: ignore[arg-type]
            if seen is not item:
                problems.append(item.problem("name", f"duplicate {kind} name {name!r}; first "
                                             f"declared at {seen.location}"))
    policies = {p.spec.name for p in specs.snapshot_policies}
    for policy in specs.snapshot_policies:
        problems += _policy(policy, catalog, estate)
    for restore in specs.restores:
        problems += _restore(restore, catalog, policies)
    return problems


def _policy(located: Located[SnapshotPolicySpec], catalog: Catalog,
            estate: EstateSpec | None) -> list[Problem]:
    spec, doc = located.spec, located.document
    problems: list[Problem] = []
    raw = doc.body["spec"]
    try:
        if "every" in raw["schedule"]:
            parse_duration(raw["schedule"]["every"])
        validate(spec.schedule)
    except ScheduleError as error:
        field = "every" if "every" in raw["schedule"] else "cron"
        problems.append(doc.problem(("spec", "schedule", field), str(error)))
    for index, name in enumerate(spec.shares):
        share = catalog.shares.get(name)
        if share is None:
            problems.append(doc.problem(("spec", "shares", index), f"no Share named {name!r}"))
        elif share.spec.scope is ShareScope.USER:
            problems.append(doc.problem(("spec", "shares", index), (
                f"share {name!r} has user scope: choose whose homes with spec.homes "
                "(all, domains, profiles)")))
    for index, domain in enumerate(spec.homes.domains):
        if domain not in catalog.domains:
            problems.append(doc.problem(("spec", "homes", "domains", index),
                                        f"no Domain named {domain!r}"))
    for index, profile in enumerate(spec.homes.profiles):
        if profile not in catalog.profiles:
            problems.append(doc.problem(("spec", "homes", "profiles", index),
                                        f"no profile {profile!r} is declared"))
    if estate is not None:
        for region in dict.fromkeys(estate.regions):
            if region not in spec.buckets:
                problems.append(doc.problem(("spec", "destination", "buckets"), (
                    f"has no bucket for {region}: either region can become active, and "
                    "the active region's controller takes the snapshots")))
    encryption = raw.get("encryption", {})
    if encryption.get("type") == "kms" and not encryption.get("keyId"):
        problems.append(doc.problem(("spec", "encryption"), "type kms needs keyId (a KMS key "
                                    "id, ARN or alias/...)"))
    if encryption.get("type") == "none" and encryption.get("keyId"):
        problems.append(doc.problem(("spec", "encryption", "keyId"),
                                    "keyId is only used with type kms"))
    return problems


def _restore(located: Located[RestoreSpec], catalog: Catalog,
             policies: set[str]) -> list[Problem]:
    spec, doc = located.spec, located.document
    problems: list[Problem] = []
    raw = doc.body["spec"]
    if spec.snapshot is not None:
        try:
            parse_id(spec.snapshot)
        except ManifestError as error:
            problems.append(doc.problem(("spec", "from", "snapshot"), str(error)))
    if spec.newest is not None:
        pick = raw["from"]["newest"]
        if spec.newest.policy not in policies:
            problems.append(doc.problem(("spec", "from", "newest", "policy"),
                                        f"no SnapshotPolicy named {spec.newest.policy!r}"))
        if ("profile" in pick) == ("share" in pick and "profile" not in pick) or (
                "profile" not in pick and "share" not in pick):
            problems.append(doc.problem(("spec", "from", "newest"),
                                        "name the profile (domain/profile) or the share whose "
                                        "newest snapshot to restore"))
        elif "share" in pick and "profile" not in pick:
            problems += _share_target(doc, ("spec", "from", "newest"), catalog, pick["share"],
                                      pick.get("domain"))
    to = raw["to"]
    if "profile" in to:
        if "domain" in to:
            problems.append(doc.problem(("spec", "to", "domain"),
                                        "a profile target's domain is in its name"))
        share = catalog.shares.get(to.get("share", "home")) if "share" in to else None
        if "share" in to and (share is None or share.spec.scope is not ShareScope.USER):
            problems.append(doc.problem(("spec", "to", "share"), (
                f"{to['share']!r} is not a user scope share: with a profile, share picks "
                "which of its user shares (its home) to restore into")))
    elif "share" in to:
        problems += _share_target(doc, ("spec", "to"), catalog, to["share"], to.get("domain"))
    else:
        problems.append(doc.problem(("spec", "to"), "name a profile or a share to restore into"))
    if spec.owners == "target" and spec.to_profile is None:
        problems.append(doc.problem(("spec", "owners"), "target gives files to the target "
                                    "profile: restore to a profile, or keep/map owners"))
    if spec.owners == "map" and not (spec.uid_map or spec.gid_map):
        problems.append(doc.problem(("spec", "owners"), "map needs uidMap or gidMap"))
    if spec.owners != "map" and (spec.uid_map or spec.gid_map):
        problems.append(doc.problem(("spec", "uidMap" if spec.uid_map else "gidMap"),
                                    "only used with owners: map"))
    return problems


def _share_target(doc, path, catalog: Catalog, name: str,  # type: ignore[no-untyped-def]
                  domain: str | None) -> list[Problem]:
    share = catalog.shares.get(name)
    if share is None:
        return [doc.problem((*path, "share"), f"no Share named {name!r}")]
    if share.spec.scope is ShareScope.USER:
        return [doc.problem((*path, "share"), f"share {name!r} has user scope: name the "
                            "profile whose directory it is")]
    if share.spec.scope is ShareScope.DOMAIN and (domain is None or domain not in
                                                  catalog.domains):
        return [doc.problem((*path, "domain"), f"share {name!r} has domain scope: name one "
                            "of the estate's domains")]
    return []
