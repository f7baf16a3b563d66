"""Name tags several resources carry, reported as problems that name every id. Pure.

The desired state may refer to a file system, VPC, subnet or security group by its Name
tag; AWS does not keep tags unique. Such a reference resolves to nothing (the observe
layer never picks one), nothing is made in its place (a second file system would make
it worse), and the plan says which ids carry the tag, so a person decides: retag, or
name the id in the desired state.
"""

from __future__ import annotations

from controller.model import DesiredState
from controller.observed import AmbiguousName, ResolvedReferences


def ambiguous_file_systems(desired: DesiredState, refs: ResolvedReferences,
                           region: str) -> set[str]:
    """Logical file systems whose copy in `region` is looked up by a Name tag that several
    file systems there carry."""
    return {name for name, entry in _file_system_entries(desired, refs) if entry.region == region}


def ambiguity_problems(desired: DesiredState, refs: ResolvedReferences) -> list[str]:
    """One problem per logical file system left unresolved by an ambiguous Name tag. (A
    VPC, subnet or security group is reported by the domain that refers to it.)"""
    return [f"FileSystem/{name}: {describe(entry)}; none of them is used (nor another made) "
            "until only one carries it, or the placement names a fileSystemId"
            for name, entry in _file_system_entries(desired, refs)]


def describe(entry: AmbiguousName) -> str:
    return (f"{len(entry.ids)} {entry.kind}s in {entry.region} carry the Name tag "
            f"{entry.name} ({', '.join(entry.ids)})")


def find(refs: ResolvedReferences, kind: str, name: str, region: str) -> AmbiguousName | None:
    return next((a for a in refs.ambiguous
                 if (a.kind, a.name, a.region) == (kind, name, region)), None)


def _file_system_entries(desired: DesiredState,
                         refs: ResolvedReferences) -> list[tuple[str, AmbiguousName]]:
    entries = []
    for entry in refs.ambiguous:
        if entry.kind != "file system":
            continue
        for name in sorted(desired.file_systems):
            placement = desired.file_systems[name].placement_in(entry.region)
            if placement is not None and placement.name_tag == entry.name:
                entries.append((name, entry))
    return entries
