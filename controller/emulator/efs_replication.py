"""EFS cross-region replication's control plane: create, describe, delete configurations.

As in EFS: a file system takes part in at most one configuration (a second one is a
BadRequest: the parameter is invalid); creating one makes the destination file system
in the destination region (with its own folder), or adopts an existing one whose
replication overwrite protection is DISABLED (and refuses, with ConflictException, an
unencrypted destination for an encrypted source); the destination shows REPLICATING and
is read-only (the replicator puts back any change made to it); a configuration is
visible from both regions. DeleteReplicationConfiguration names it by its *source* id
only, from either region: ALL_CONFIGURATIONS (the default) deletes both sides, which
needs the other region to answer; LOCAL_CONFIGURATION_ONLY deletes only the calling
region's side and leaves the other orphaned (ERROR), as EFS does. Once the destination's
side is gone it stands alone, writable, protection ENABLED again.
This module must not copy data (the replicator does) or keep state of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from controller.emulator.efs_store import EfsStore, Replication
from controller.emulator.lifecycle import EmulatorConfig, Lifecycle, random_suffix
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply, json_reply
from controller.emulator.replicator import Replicator

DELETION_MODES = ("ALL_CONFIGURATIONS", "LOCAL_CONFIGURATION_ONLY")
_IN_A_CONFIGURATION = (
    "File system {} is already a source or destination file system in another "
    "replication configuration."
)
FILE_SYSTEM_ARN = re.compile(
    r"arn:aws[a-z-]*:elasticfilesystem:([a-z0-9-]+):(\d{12}):file-system/(fs-[0-9a-f]+)"
)


@dataclass
class EfsCall:
    request: AwsRequest
    account: str
    store: EfsStore
    gateway: MotoGateway
    config: EmulatorConfig
    replicator: Replicator
    # Whether a region is down (every call to it failing): work that spans regions fails.
    region_down: Callable[[str], bool] = field(default=lambda region: False)

    @property
    def region(self) -> str:
        return self.request.region

    def efs(self, region: str | None = None) -> BaseClient:
        return self.gateway.client("efs", region or self.region, self.account)

    def describe_file_system(
        self, file_system_id: str, region: str | None = None
    ) -> dict[str, Any]:
        efs = self.efs(region)
        try:
            return dict(efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0])
        except efs.exceptions.FileSystemNotFound:
            raise AwsError(
                "FileSystemNotFound",
                f"File system '{file_system_id}' does not exist in {region or self.region}.",
                404,
            ) from None


def create_replication_configuration(call: EfsCall) -> Reply:
    source_id = call.request.path_params.get("SourceFileSystemId", "")
    source = call.describe_file_system(source_id)
    destinations = call.request.json().get("Destinations") or []
    if len(destinations) != 1:
        raise AwsError("ValidationException", "Exactly one destination is supported.")
    wanted = destinations[0]
    region, existing_id = _destination_region_and_id(call, wanted)
    store = call.store
    if store.replication_of(call.account, call.region, source_id) is not None:
        raise AwsError("BadRequest", _IN_A_CONFIGURATION.format(source_id))
    if existing_id is not None:
        _check_existing_destination(call, region, existing_id, source)
        destination_id = existing_id
    else:
        destination_id = _create_destination(call, region, source)
    store.folders.ensure(source_id)
    store.folders.ensure(destination_id)
    store.protection[(call.account, region, destination_id)] = "REPLICATING"
    replication = Replication(
        account=call.account,
        source_region=call.region,
        source_id=source_id,
        source_arn=str(source["FileSystemArn"]),
        original_source_arn=str(source["FileSystemArn"]),
        destination_region=region,
        destination_id=destination_id,
        lifecycle=Lifecycle.begin("ENABLING", call.config),
    )
    store.replications.append(replication)
    call.replicator.wake()  # the initial copy starts at once, as EFS's does
    return json_reply(replication.describe(call.config.clock()), protocol="rest-json")


def describe_replication_configurations(call: EfsCall) -> Reply:
    wanted = call.request.query_value("FileSystemId")
    now = call.config.clock()
    if wanted:
        call.describe_file_system(wanted)
        found = call.store.replication_of(call.account, call.region, wanted)
        if found is None:
            raise AwsError(
                "ReplicationNotFound", f"No replication configuration found for {wanted}.", 404
            )
        replications = [found]
    else:
        replications = [
            r
            for r in call.store.replications
            if r.account == call.account and r.has_side(call.region, now)
        ]
    size = int(call.request.query_value("MaxResults") or 100)
    start = int(call.request.query_value("NextToken") or 0)
    chunk = replications[start : start + size]
    body: dict[str, Any] = {"Replications": [r.describe(now, call.region) for r in chunk]}
    if start + size < len(replications):
        body["NextToken"] = str(start + size)
    return json_reply(body, protocol="rest-json")


def delete_replication_configuration(call: EfsCall) -> Reply:
    source_id = call.request.path_params.get("SourceFileSystemId", "")
    mode = call.request.query_value("deletionMode") or "ALL_CONFIGURATIONS"
    if mode not in DELETION_MODES:
        raise AwsError("BadRequest", f"DeletionMode must be one of {', '.join(DELETION_MODES)}.")
    # By the source's id only: a destination's id names no configuration.
    found = call.store.replication_by_source(call.account, call.region, source_id)
    if found is None:
        raise AwsError(
            "ReplicationNotFound",
            f"No replication configuration found with source file system {source_id}.",
            404,
        )
    now = call.config.clock()
    other = (found.destination_region if call.region == found.source_region
             else found.source_region)
    if mode == "LOCAL_CONFIGURATION_ONLY":
        if other == call.region:
            raise AwsError(
                "BadRequest",
                "LOCAL_CONFIGURATION_ONLY cannot be used for a replication within one "
                "account and Region.",
            )
        if call.region not in found.side_deletions:
            found.side_deletions[call.region] = Lifecycle.begin("DELETING", call.config)
    elif found.has_side(other, now) and found.lifecycle.status != "DELETING":
        if call.region_down(other):
            # Both sides go together, so the other region must answer; when it cannot,
            # only LOCAL_CONFIGURATION_ONLY deletes anything.
            raise AwsError(
                "InternalServerError",
                f"The replication configuration could not be deleted in {other}. Try "
                "again, or delete this Region's side with LOCAL_CONFIGURATION_ONLY.",
                500,
            )
        found.lifecycle.move("DELETING", call.config)
    elif not found.has_side(other, now):
        # The other side is already gone (orphaned): only this side is left to delete.
        found.side_deletions.setdefault(call.region, Lifecycle.begin("DELETING", call.config))
    call.store.sweep(call.config.clock())
    return Reply(204, b"", {"Content-Type": "application/json"})


def _destination_region_and_id(call: EfsCall, wanted: dict[str, Any]) -> tuple[str, str | None]:
    given = wanted.get("FileSystemId")
    region = wanted.get("Region")
    if given:
        arn = FILE_SYSTEM_ARN.fullmatch(str(given))
        if arn is not None:
            region = region or arn.group(1)
            given = arn.group(3)
    if not region:
        if wanted.get("AvailabilityZoneName"):
            region = str(wanted["AvailabilityZoneName"])[:-1]  # us-west-2a -> us-west-2
        elif given:
            region = call.region
        else:
            raise AwsError("ValidationException", "Destinations[0].Region is required.")
    return str(region), (str(given) if given else None)


def _check_existing_destination(
    call: EfsCall, region: str, destination_id: str, source: dict[str, Any]
) -> None:
    source_id = str(source["FileSystemId"])
    if (region, destination_id) == (call.region, source_id):
        raise AwsError(
            "BadRequest", "The destination file system cannot be the source file system."
        )
    destination = call.describe_file_system(destination_id, region)
    if call.store.replication_of(call.account, region, destination_id) is not None:
        raise AwsError("BadRequest", _IN_A_CONFIGURATION.format(destination_id))
    protection = call.store.protection_of((call.account, region, destination_id))
    if protection != "DISABLED":
        raise AwsError(
            "BadRequest",
            f"Destination file system {destination_id} has replication overwrite protection "
            f"{protection}; disable it with UpdateFileSystemProtection before using it as a "
            "replication destination.",
        )
    if source.get("Encrypted") and not destination.get("Encrypted"):
        raise AwsError(
            "ConflictException",
            f"Source file system {source_id} is encrypted but destination file system "
            f"{destination_id} is not.",
            409,
        )


def _create_destination(call: EfsCall, region: str, source: dict[str, Any]) -> str:
    mode = str(source.get("ThroughputMode", "bursting"))
    created = call.efs(region).create_file_system(
        CreationToken=f"replica-{source['FileSystemId']}-{random_suffix(8)}",
        PerformanceMode=str(source.get("PerformanceMode", "generalPurpose")),
        Encrypted=True,  # EFS encrypts a new replica whether or not the source is
        ThroughputMode=mode if mode in ("bursting", "elastic") else "bursting",
    )
    return str(created["FileSystemId"])
