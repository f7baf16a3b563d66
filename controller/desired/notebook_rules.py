"""Cross-document rules for NotebookInstance documents.

Names unique among notebook instances; each instance in one of the estate's regions;
a migration's instance name that can never be taken by another notebook instance (or be
the instance's own, which would need the old instance gone before the new one has its
data); room in the name for the generation number a migration adds by default. Each
problem is reported at the field that is wrong. This module must not build the desired
state or look at anything but the specs.
"""

from __future__ import annotations

from controller.desired.build import Located, Specs
from controller.errors import Problem
from controller.model import EstateSpec
from controller.notebooks.migration import TAG_VALUE_LIMIT, map_tag
from controller.notebooks.spec import NotebookInstanceSpec

NAME_LIMIT = 63
# "-" and up to two digits: room for 99 migrations of one notebook.
GENERATION_ROOM = 3


def check_notebooks(specs: Specs, estate: EstateSpec | None) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, Located[NotebookInstanceSpec]] = {}
    for located in specs.notebooks:
        seen = first.setdefault(located.spec.name, located)
        if seen is not located:
            problems.append(located.problem("name", f"duplicate NotebookInstance name "
                                            f"{located.spec.name!r}; first declared at "
                                            f"{seen.location}"))
    claimed: dict[str, Located[NotebookInstanceSpec]] = dict(first)
    for located in first.values():
        spec = located.spec
        if estate is not None and spec.region is not None and spec.region not in estate.regions:
            problems.append(located.problem("region", (
                f"{spec.region} is not an estate region; a notebook instance lives in the "
                f"primary ({estate.primary_region}) or replica ({estate.replica_region}) "
                "region")))
        problems += _backup_problems(located, specs, estate)
        problems += _map_problems(located)
        target = spec.migration.instance_name
        if target is None:
            if len(spec.name) > NAME_LIMIT - GENERATION_ROOM:
                problems.append(located.problem("name", (
                    f"is {len(spec.name)} characters; a migration names the new instance "
                    f"<name>-<generation>, which must fit SageMaker's {NAME_LIMIT}: use at "
                    f"most {NAME_LIMIT - GENERATION_ROOM}, or set spec.migration.instanceName")))
            continue
        if target == spec.name:
            problems.append(located.problem("instanceName", (
                "must differ from the instance's own name: a migration keeps the old "
                "instance until the new one has restored its data, so both exist at once")))
            continue
        holder = claimed.setdefault(target, located)
        if holder is not located:
            problems.append(located.problem("instanceName", (
                f"{target!r} is also the name of NotebookInstance {holder.spec.name!r} "
                f"({holder.location}) or its migration's new instance")))
    return problems


def _map_problems(located: Located[NotebookInstanceSpec]) -> list[Problem]:
    """An owner map travels to the new instance as one tag value (restore.sh reads it)."""
    problems = []
    for field_name, pairs in (("uidMap", located.spec.migration.uid_map),
                              ("gidMap", located.spec.migration.gid_map)):
        text = map_tag(pairs)
        if len(text) > TAG_VALUE_LIMIT:
            problems.append(located.problem(field_name, (
                f"is {len(text)} characters as the restore's tag (\"old:new ...\"); "
                f"a tag value holds at most {TAG_VALUE_LIMIT}: map fewer ids")))
    return problems


def _backup_problems(located: Located[NotebookInstanceSpec], specs: Specs,
                     estate: EstateSpec | None) -> list[Problem]:
    """The backup's SnapshotPolicy exists and has a bucket in the instance's region."""
    spec = located.spec
    if spec.backup_policy is None:
        return []
    policies = {p.spec.name: p.spec for p in specs.snapshot_policies}
    policy = policies.get(spec.backup_policy)
    if policy is None:
        known = ", ".join(sorted(policies)) or "none declared"
        return [located.problem("snapshotPolicy", f"no SnapshotPolicy {spec.backup_policy!r} "
                                f"(policies: {known})")]
    region = spec.region or (estate.primary_region if estate is not None else None)
    if region is not None and region not in policy.buckets:
        return [located.problem("snapshotPolicy", (
            f"SnapshotPolicy {policy.name!r} has no bucket in {region}, where the instance "
            "lives: its snapshots would have nowhere to go"))]
    return []
