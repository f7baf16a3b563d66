"""Find each logical file system's copy in a region, and read the other region's copies.

A copy is found by the id its placement gives, or by its Name tag; the other region's
copy of a replicated file system is found by the replica id this region's replication
names when there is one (a Name tag can go missing; the active region puts it back), and
by the Name tag otherwise. Name tags are not unique and DescribeFileSystems lists in no
particular order, so a tag that several file systems carry resolves to nothing and is
reported (AmbiguousName), never to whichever came first. A failed read of the other
region says how it failed, which is what the loop classifies a region unreachable by.
Reads only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from controller.fencing import ATTACHED_TAG, COPIED_AT_TAG, WORKING_COPY_OF_TAG, fence_stamp
from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observed import (
    AmbiguousName,
    ObservedFileSystem,
    ObservedReplication,
    ObservedWorkingCopy,
)

_CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError,
                      ReadTimeoutError)


@dataclass
class FoundFileSystems:
    copies: dict[str, ObservedFileSystem | None] = field(default_factory=dict)
    working: dict[str, ObservedWorkingCopy] = field(default_factory=dict)
    superseded: dict[str, ObservedFileSystem] = field(default_factory=dict)
    ambiguous: list[AmbiguousName] = field(default_factory=list)


@dataclass
class RemoteRead:
    """The other region's copies of replicated file systems, and how reading them went."""

    copies: dict[str, ObservedFileSystem | None] = field(default_factory=dict)
    outcome: str = ""  # "ok", "unreachable", "refused"; "" when nothing was read
    ambiguous: list[AmbiguousName] = field(default_factory=list)


def other_region(desired: DesiredState, region: str) -> str:
    return next(r for r in desired.estate.regions if r != region)


def read_remote(gateway: AwsGateway, desired: DesiredState, region: str,
                replica_ids: Mapping[str, str] | None = None) -> RemoteRead:
    """The other region's copies (a name missing from `copies`: not known this pass).

    `replica_ids` maps a logical file system to the id this region replicates it to, so
    that copy is found even when its Name tag has gone.
    """
    if not any(spec.replicate for spec in desired.file_systems.values()):
        return RemoteRead()
    other = other_region(desired, region)
    try:
        found = find_file_systems(gateway, desired, other, only_replicated=True,
                                  known_ids=replica_ids or {})
    except (BotoCoreError, ClientError) as error:
        return RemoteRead(outcome=failure_kind(error))
    ambiguous_names = {a.name for a in found.ambiguous}
    copies = {name: copy for name, copy in found.copies.items()
              if copy is not None or _tag_of(desired, other, name) not in ambiguous_names}
    return RemoteRead(copies, "ok", found.ambiguous)


def failure_kind(error: BaseException) -> str:
    """"unreachable" for what an outage looks like (no connection, a timeout, a server
    error once botocore's retries are spent), "refused" for anything else (access denied,
    throttling, a bad request): only the first may count towards a region being down."""
    if isinstance(error, _CONNECTION_ERRORS):
        return "unreachable"
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return "unreachable" if int(status or 0) >= 500 else "refused"
    return "refused"


def find_file_systems(gateway: AwsGateway, desired: DesiredState, region: str,
                      only_replicated: bool = False,
                      known_ids: Mapping[str, str] | None = None) -> FoundFileSystems:
    """Each logical file system's copy in `region`: by id or Name tag, or the working copy
    that has been attached in its place (the replica it took over from is `superseded`)."""
    efs = gateway.client("efs", region)
    by_id: dict[str, ObservedFileSystem] = {}
    by_name: dict[str, list[ObservedFileSystem]] = {}
    working: dict[str, tuple[ObservedWorkingCopy, ObservedFileSystem]] = {}
    for page in efs.get_paginator("describe_file_systems").paginate():
        for item in page["FileSystems"]:
            tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
            observed = ObservedFileSystem(
                file_system_id=item["FileSystemId"],
                lifecycle_state=item.get("LifeCycleState", "unknown"),
                name_tag=item.get("Name") or tags.get("Name"),
                replication_overwrite_protection=(item.get("FileSystemProtection") or {}).get(
                    "ReplicationOverwriteProtection"),
            )
            by_id[observed.file_system_id] = observed
            copy_of = tags.get(WORKING_COPY_OF_TAG)
            if copy_of and observed.lifecycle_state != "deleted":
                working.setdefault(copy_of, (ObservedWorkingCopy(
                    observed.file_system_id, observed.lifecycle_state,
                    _float(tags.get(COPIED_AT_TAG)), tags.get(ATTACHED_TAG) == "true"),
                    observed))
            elif observed.name_tag and observed.lifecycle_state != "deleted":
                by_name.setdefault(observed.name_tag, []).append(observed)
    found = FoundFileSystems()
    for name in sorted(desired.file_systems):
        spec = desired.file_systems[name]
        if only_replicated and not spec.replicate:
            continue
        placement = spec.placement_in(region)
        copy: ObservedFileSystem | None = None
        known = (known_ids or {}).get(name)
        if placement is not None and placement.file_system_id:
            copy = by_id.get(placement.file_system_id)
        elif known is not None and known in by_id:
            copy = by_id[known]
        elif placement is not None:
            candidates = by_name.get(placement.name_tag or "", [])
            if len(candidates) == 1:
                copy = candidates[0]
            elif candidates:
                found.ambiguous.append(AmbiguousName(
                    "file system", placement.name_tag or "", region,
                    tuple(sorted(c.file_system_id for c in candidates))))
        if spec.replicate and name in working:
            working_copy, as_file_system = working[name]
            found.working[name] = working_copy
            if working_copy.attached:
                if copy is not None:
                    found.superseded[name] = replace(
                        copy, replication=_replication(efs, copy.file_system_id))
                copy = as_file_system
        if copy is not None and spec.replicate:
            copy = replace(copy, replication=_replication(efs, copy.file_system_id))
            if not only_replicated and not copy.is_replica():
                # Fenced or not: a replica never is (it is fenced, if ever, once promoted).
                copy = replace(copy, fenced_at=_fence(efs, copy.file_system_id))
        found.copies[name] = copy
    return found


def describe_file_system(gateway: AwsGateway, region: str,
                         file_system_id: str) -> ObservedFileSystem | None:
    """One file system by id, with the replication it takes part in; None when the region
    does not hold it (or it is being deleted)."""
    efs = gateway.client("efs", region)
    try:
        (item,) = efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"]
    except efs.exceptions.FileSystemNotFound:
        return None
    if item.get("LifeCycleState") in ("deleting", "deleted"):
        return None
    tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
    return ObservedFileSystem(
        file_system_id=item["FileSystemId"],
        lifecycle_state=item.get("LifeCycleState", "unknown"),
        name_tag=item.get("Name") or tags.get("Name"),
        replication_overwrite_protection=(item.get("FileSystemProtection") or {}).get(
            "ReplicationOverwriteProtection"),
        replication=_replication(efs, item["FileSystemId"]))


def replica_ids(copies: Mapping[str, ObservedFileSystem | None], region: str) -> dict[str, str]:
    """Logical name -> the id this region's copy replicates to (in another region)."""
    ids: dict[str, str] = {}
    for name, copy in copies.items():
        replication = copy.replication if copy is not None else None
        if replication is not None and copy is not None and (
                replication.source_file_system_id == copy.file_system_id
                and replication.destination_region != region):
            ids[name] = replication.destination_file_system_id
    return ids


def _tag_of(desired: DesiredState, region: str, name: str) -> str | None:
    placement = desired.file_systems[name].placement_in(region)
    return placement.name_tag if placement is not None else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _fence(efs: Any, file_system_id: str) -> str | None:
    try:
        policy = efs.describe_file_system_policy(FileSystemId=file_system_id)["Policy"]
    except efs.exceptions.PolicyNotFound:
        return None
    return fence_stamp(policy)


def _replication(efs: Any, file_system_id: str) -> ObservedReplication | None:
    """The replication configuration the file system is source or destination of."""
    try:
        response = efs.describe_replication_configurations(FileSystemId=file_system_id)
    except efs.exceptions.ReplicationNotFound:
        return None
    for config in response.get("Replications", []):
        for destination in config.get("Destinations", []):
            return ObservedReplication(
                source_file_system_id=config["SourceFileSystemId"],
                source_region=config["SourceFileSystemRegion"],
                destination_file_system_id=destination["FileSystemId"],
                destination_region=destination["Region"],
                status=destination.get("Status", "UNKNOWN"),
                last_replicated=destination.get("LastReplicatedTimestamp"),
            )
    return None
