"""From a live region to desired-state documents, for `studioctl import`. Pure.

What the operator manages is written as it is (domains, profiles and their POSIX ids,
shares, file systems, replication, per-profile settings and tags); what it cannot
express is kept as YAML comments saying what and why, so that the imported desired state
plans no changes against the region it was read from (the import command checks that).
Nothing secret is written: lifecycle scripts are named, never copied; no credentials or
URLs. Names follow the operator's own: file systems and network by their Name tags
(unique ones), roles by name, shares by the last fixed folder of their path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.importer.documents import Document, envelope, valid_name
from controller.importer.domains import domain_document
from controller.importer.read import LiveFileSystem, LiveRegion
from controller.importer.share_docs import infer_shares


@dataclass
class Imported:
    files: dict[str, list[Document]]  # file name -> its documents
    notes: list[str]


def infer(live: LiveRegion, estate_name: str, replica_region: str | None,
          other_domains: set[str] | None = None) -> Imported:
    """ValueError when the replica region cannot be told and was not given."""
    replicas = {fs.replica_region for fs in live.file_systems.values() if fs.replica_region}
    replica = replica_region or (sorted(replicas)[0] if len(replicas) == 1 else None)
    if replica is None:
        raise ValueError("give --replica-region: no file system replicates anywhere (or they "
                         "replicate to several regions), so the estate's replica region is "
                         "not known")
    fs_names = _file_system_names(live.file_systems)
    shares = infer_shares(live, fs_names, other_domains or set())
    files: dict[str, list[Document]] = {
        "estate.yaml": [_estate(live.region, replica, valid_name(estate_name))],
        "filesystems.yaml": [_file_system(live, fs, fs_names[fs_id], replica)
                             for fs_id, fs in sorted(live.file_systems.items())],
        "shares.yaml": [shares.documents[name] for name in sorted(shares.documents)],
    }
    for domain in live.domains:
        files[f"{domain.name}.yaml"] = [domain_document(live, domain, replica, shares)]
    return Imported({name: docs for name, docs in files.items() if docs},
                    [*live.notes, *shares.notes])


def _estate(region: str, replica: str, name: str) -> Document:
    return Document(envelope("Estate", name, {
        "regions": {"primary": region, "replica": replica}, "activeRegion": region,
        "mode": "active-passive", "failover": {"strategy": "promote"},
        "safety": {"maxRemovalPercent": 10}}),
        [f"Imported from {region} by studioctl import; review it before committing.",
         "mode active-passive is assumed: the other region's domains were not read. Prune "
         "is off: nothing is deleted unless you turn it on."])


def _file_system_names(file_systems: dict[str, LiveFileSystem]) -> dict[str, str]:
    names: dict[str, str] = {}
    for fs_id, fs in sorted(file_systems.items()):
        base = valid_name(fs.name_tag or fs_id)
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}-{n}", n + 1
        names[fs_id] = name
    return names


def _file_system(live: LiveRegion, fs: LiveFileSystem, name: str, replica: str) -> Document:
    comments = []
    placement: dict[str, Any] = ({"nameTag": fs.name_tag} if fs.name_tag
                                 else {"fileSystemId": fs.file_system_id})
    spec: dict[str, Any] = {"regions": {live.region: placement}}
    if fs.replica_region:
        spec = {"replicate": True, **spec}
        if fs.replica_region != replica:
            comments.append(f"it replicates to {fs.replica_region}, not the estate's replica "
                            f"region {replica}")
        if not fs.name_tag:
            comments.append(f"the replica in {replica} is found by its source's Name tag: "
                            f"give {fs.file_system_id} a unique one")
    if not fs.name_tag:
        comments.append(f"adopted by id ({fs.file_system_id}): it has no unique Name tag")
    if fs.directories is None:
        comments.append("not mounted under --efs-root when imported: its shares were read "
                        "from the CustomFileSystemConfigs paths only")
    return Document(envelope("FileSystem", name, spec), comments)
