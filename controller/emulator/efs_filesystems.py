"""EFS calls the emulator answers or completes itself; the rest of EFS is moto's.

Completed after moto: CreateFileSystem (the file system's folder), DescribeFileSystems
(FileSystemProtection and throughput updates; a listing comes in a shuffled order, as
EFS promises none), DeleteFileSystem (refused while
replicating; the folder goes with it), CreateAccessPoint (ClientToken idempotency).
Answered here: UpdateFileSystemProtection, UpdateFileSystem, Put/DescribeBackupPolicy,
Put/Describe/DeleteFileSystemPolicy (moto has no delete) and the replication
configuration calls (efs_replication). This module must not
change moto's records of file systems, only what the caller sees of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from controller.emulator import efs_replication as replication
from controller.emulator.efs_replication import EfsCall
from controller.emulator.efs_store import EfsStore
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply, json_reply
from controller.emulator.replicator import Replicator

THROUGHPUT_MODES = {"bursting", "provisioned", "elastic"}


class ElasticFileSystem:
    def __init__(
        self,
        config: EmulatorConfig,
        gateway: MotoGateway,
        store: EfsStore,
        replicator: Replicator,
        region_down: Callable[[str], bool] = lambda region: False,
    ):
        self.config = config
        self.gateway = gateway
        self.store = store
        self.replicator = replicator
        self.region_down = region_down
        self.handlers: dict[str, Callable[[EfsCall], Reply]] = {
            "CreateFileSystem": self._create_file_system,
            "DescribeFileSystems": self._describe_file_systems,
            "DeleteFileSystem": self._delete_file_system,
            "UpdateFileSystemProtection": self._update_protection,
            "UpdateFileSystem": self._update_file_system,
            "PutBackupPolicy": self._put_backup_policy,
            "DescribeBackupPolicy": self._describe_backup_policy,
            "CreateAccessPoint": self._create_access_point,
            "PutFileSystemPolicy": self._put_policy,
            "DescribeFileSystemPolicy": self._describe_policy,
            "DeleteFileSystemPolicy": self._delete_policy,
            "CreateReplicationConfiguration": replication.create_replication_configuration,
            "DescribeReplicationConfigurations": replication.describe_replication_configurations,
            "DeleteReplicationConfiguration": replication.delete_replication_configuration,
        }

    def handle(self, request: AwsRequest) -> Reply | None:
        handler = self.handlers.get(request.operation) if request.service == "efs" else None
        if handler is None:
            return None
        account = self.gateway.account_of(
            request.access_key, request.headers.get("x-moto-account-id")
        )
        call = EfsCall(request, account, self.store, self.gateway, self.config, self.replicator,
                       self.region_down)
        with self.store.lock:
            self.store.sweep(self.config.clock())
            return handler(call)

    def _forward(self, call: EfsCall) -> tuple[int, dict[str, str], bytes]:
        return self.gateway.call(call.request.environ)

    def _decorate(self, call: EfsCall, description: dict[str, Any]) -> dict[str, Any]:
        key = (call.account, call.region, str(description["FileSystemId"]))
        description["FileSystemProtection"] = {
            "ReplicationOverwriteProtection": self.store.protection_of(key)
        }
        description.update(self.store.throughput.get(key, {}))
        return description

    def _create_file_system(self, call: EfsCall) -> Reply:
        status, headers, body = self._forward(call)
        if status != 201:
            return _moto_reply(status, headers, body)
        description = json.loads(body)
        self.store.folders.ensure(str(description["FileSystemId"]))
        return json_reply(self._decorate(call, description), status=201, protocol="rest-json")

    def _describe_file_systems(self, call: EfsCall) -> Reply:
        status, headers, body = self._forward(call)
        if status != 200:
            return _moto_reply(status, headers, body)
        listing = json.loads(body)
        listing["FileSystems"] = [self._decorate(call, fs) for fs in listing.get("FileSystems", [])]
        if len(listing["FileSystems"]) > 1:
            # "The order of file systems returned ... is unspecified" (DescribeFileSystems):
            # code that takes the first match must fail here, not on a real account.
            self.store.order.shuffle(listing["FileSystems"])
        return json_reply(listing, protocol="rest-json")

    def _delete_file_system(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        if self.store.replication_of(call.account, call.region, file_system_id) is not None:
            raise AwsError(
                "FileSystemInUse",
                f"File system {file_system_id} is part of a replication configuration; "
                "delete that first.",
                409,
            )
        status, headers, body = self._forward(call)
        if status == 204:
            self.store.forget_file_system((call.account, call.region, file_system_id))
        return _moto_reply(status, headers, body)

    def _update_protection(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        call.describe_file_system(file_system_id)
        wanted = call.request.json().get("ReplicationOverwriteProtection")
        key = (call.account, call.region, file_system_id)
        if self.store.protection_of(key) == "REPLICATING":
            raise AwsError(
                "ReplicationAlreadyExists",
                "ReplicationOverwriteProtection cannot be changed while the file system is "
                "a replication destination.",
                409,
            )
        if wanted not in ("ENABLED", "DISABLED"):
            raise AwsError(
                "BadRequest", "ReplicationOverwriteProtection must be ENABLED or DISABLED."
            )
        self.store.protection[key] = str(wanted)
        return json_reply({"ReplicationOverwriteProtection": wanted}, protocol="rest-json")

    def _update_file_system(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        description = call.describe_file_system(file_system_id)
        body = call.request.json()
        mode = body.get("ThroughputMode", description.get("ThroughputMode"))
        if mode not in THROUGHPUT_MODES:
            raise AwsError(
                "BadRequest", f"ThroughputMode must be one of {sorted(THROUGHPUT_MODES)}."
            )
        update: dict[str, Any] = {"ThroughputMode": mode}
        if mode == "provisioned":
            mibps = body.get(
                "ProvisionedThroughputInMibps", description.get("ProvisionedThroughputInMibps")
            )
            if not isinstance(mibps, int | float) or not 1 <= mibps <= 3414:
                raise AwsError(
                    "BadRequest",
                    "ProvisionedThroughputInMibps (1-3414) is required for provisioned mode.",
                )
            update["ProvisionedThroughputInMibps"] = mibps
        key = (call.account, call.region, file_system_id)
        self.store.throughput[key] = update
        description.update(update)
        return json_reply(
            _jsonable(self._decorate(call, description)), status=202, protocol="rest-json"
        )

    def _put_backup_policy(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        call.describe_file_system(file_system_id)
        status = (call.request.json().get("BackupPolicy") or {}).get("Status")
        if status not in ("ENABLED", "DISABLED"):
            raise AwsError(
                "ValidationException", "BackupPolicy.Status must be ENABLED or DISABLED."
            )
        self.store.backup_policies[(call.account, call.region, file_system_id)] = str(status)
        return json_reply({"BackupPolicy": {"Status": status}}, protocol="rest-json")

    def _describe_backup_policy(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        status = self.store.backup_policies.get((call.account, call.region, file_system_id))
        if status is None:  # never set here: moto knows the Backup flag given at creation
            return _moto_reply(*self._forward(call))
        return json_reply({"BackupPolicy": {"Status": status}}, protocol="rest-json")

    def _put_policy(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        call.describe_file_system(file_system_id)
        text = call.request.json().get("Policy")
        if not isinstance(text, str) or not _is_policy(text):
            raise AwsError(
                "InvalidPolicyException",
                "Policy must be a JSON policy document with a Statement list.",
            )
        self.store.policies[(call.account, call.region, file_system_id)] = text
        return json_reply({"FileSystemId": file_system_id, "Policy": text}, protocol="rest-json")

    def _describe_policy(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        call.describe_file_system(file_system_id)
        text = self.store.policies.get((call.account, call.region, file_system_id))
        if text is None:
            raise AwsError("PolicyNotFound", f"File system {file_system_id} has no policy.", 404)
        return json_reply({"FileSystemId": file_system_id, "Policy": text}, protocol="rest-json")

    def _delete_policy(self, call: EfsCall) -> Reply:
        file_system_id = call.request.path_params.get("FileSystemId", "")
        call.describe_file_system(file_system_id)
        self.store.policies.pop((call.account, call.region, file_system_id), None)
        return Reply(200, b"", {"Content-Type": "application/json"})

    def _create_access_point(self, call: EfsCall) -> Reply:
        body = call.request.json()
        token = body.get("ClientToken")
        asked = json.dumps({k: v for k, v in body.items() if k != "ClientToken"}, sort_keys=True)
        key = (call.account, call.region, str(token))
        known = self.store.access_point_tokens.get(key) if token else None
        if known is not None:
            efs = call.efs()
            try:
                point = efs.describe_access_points(AccessPointId=known[0])["AccessPoints"][0]
            except efs.exceptions.AccessPointNotFound:
                del self.store.access_point_tokens[key]
            else:
                if known[1] != asked:
                    raise AwsError(
                        "AccessPointAlreadyExists",
                        f"An access point with client token {token} already exists "
                        "with other settings.",
                        409,
                    )
                return json_reply(_jsonable(point), protocol="rest-json")
        status, headers, raw = self._forward(call)
        if status == 200 and token:
            self.store.access_point_tokens[key] = (str(json.loads(raw)["AccessPointId"]), asked)
        return _moto_reply(status, headers, raw)


def _is_policy(text: str) -> bool:
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("Statement"), list)


def _moto_reply(status: int, headers: dict[str, str], body: bytes) -> Reply:
    kept = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "status")}
    return Reply(status, body, kept)


def _jsonable(value: Any) -> Any:
    """boto3 answers carry datetimes; the wire wants epoch seconds."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "timestamp"):
        return round(value.timestamp(), 3)
    return value
