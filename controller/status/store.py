"""The status store: per-resource conditions and revisions, in a DynamoDB table.

One item per resource (partition key "pk" = "<kind>#<name>") in a table of the
controller's own region, plus one item for the desired-state source (pk "revision"):
the revision last seen, whether it was valid, the last good one and why a bad one was
refused. A restarted controller and `studioctl status` read the same truth. Writes are
skipped when nothing changed, so an idle pass writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from controller.gateway import AwsGateway
from controller.status.conditions import Condition

DEFAULT_TABLE = "studio-operator-status"
REVISION_PK = "revision"
# Records the store does not keep in memory: the history (it only grows) and the describe
# seeds (one per profile; their reader keeps what it needs: controller.loop.describe_seeds).
UNCACHED_PREFIXES = ("history#", "seen#")
BATCH_SIZE = 25  # BatchWriteItem's limit
BATCH_ATTEMPTS = 8  # for items DynamoDB leaves unprocessed (throttled)
# boto3's own DynamoDB type mapping; numbers are stored as strings to stay exact.
_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)  # one per resource, thousands: no __dict__ each
class ResourceStatus:
    kind: str
    name: str
    region: str
    conditions: tuple[Condition, ...] = ()
    observed_revision: str = ""
    last_applied_revision: str = ""
    created_at: float = 0.0

    @property
    def pk(self) -> str:
        return f"{self.kind}#{self.name}"


@dataclass(frozen=True)
class RevisionStatus:
    seen: str = ""
    valid: bool = True
    last_good: str = ""
    message: str = ""
    problems: tuple[str, ...] = field(default=())


class DynamoStatusStore:
    def __init__(self, gateway: AwsGateway, region: str, table: str = DEFAULT_TABLE) -> None:
        self._client = gateway.client("dynamodb", region)
        self.region = region
        self.table = table
        # pk -> what was last loaded or written: the item itself for records read back
        # (items_with_prefix), a digest for resource statuses (only compared: at
        # thousands of profiles their items would cost tens of MB; StatusWriter keeps them).
        self._cache: dict[str, dict[str, Any] | bytes] = {}
        self._lock = threading.Lock()

    def ensure_table(self) -> None:
        """Create the table (on-demand billing) when it does not exist yet."""
        try:
            self._client.describe_table(TableName=self.table)
            return
        except self._client.exceptions.ResourceNotFoundException:
            pass
        # ResourceInUse: another replica made it first.
        with contextlib.suppress(self._client.exceptions.ResourceInUseException):
            self._client.create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=[{"Key": "studio-operator.io/managed-by", "Value": "studio-operator"}],
            )
        self._client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    def load(self) -> tuple[dict[str, ResourceStatus], RevisionStatus]:
        """Every resource status and the revision status, read once (a paged scan)."""
        resources: dict[str, ResourceStatus] = {}
        revision = RevisionStatus()
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for raw in page["Items"]:
                item = _plain(raw)
                if str(item["pk"]).startswith(UNCACHED_PREFIXES):
                    continue  # the history only grows: read it when asked (scan_prefix)
                with self._lock:
                    self._cache[item["pk"]] = _kept(item)
                if item["pk"] == REVISION_PK:
                    revision = RevisionStatus(
                        item.get("seen", ""), bool(item.get("valid", True)),
                        item.get("lastGood", ""), item.get("message", ""),
                        tuple(item.get("problems", [])))
                elif "kind" in item:
                    status = ResourceStatus(
                        item["kind"], item["name"], item.get("region", self.region),
                        tuple(Condition.from_item(c) for c in item.get("conditions", [])),
                        item.get("observedRevision", ""), item.get("lastAppliedRevision", ""),
                        float(item.get("createdAt", 0)))
                    resources[status.pk] = status
        return resources, revision

    def put(self, status: ResourceStatus) -> bool:
        """Write one resource's status if it changed; True when a write was made."""
        return self._write(self._status_item(status))

    @staticmethod
    def _status_item(status: ResourceStatus) -> dict[str, Any]:
        return {
            "pk": status.pk, "kind": status.kind, "name": status.name, "region": status.region,
            "conditions": [c.to_item() for c in status.conditions],
            "observedRevision": status.observed_revision,
            "lastAppliedRevision": status.last_applied_revision,
            "createdAt": str(status.created_at),
        }

    def put_many(self, statuses: Iterable[ResourceStatus]) -> int:
        """Write the statuses that changed, 25 to a BatchWriteItem call (a failover
        changes every resource at once); returns how many were written. Items are made
        a batch at a time: thousands of them at once were a peak of the pass's memory."""
        written = 0
        for chunk in _batches(self._status_item(s) for s in statuses):
            with self._lock:
                chunk = [i for i in chunk if self._cache.get(i["pk"]) != _kept(i)]
            if not chunk:
                continue
            self._batch_write([{"PutRequest": {"Item": _typed(i)}} for i in chunk])
            with self._lock:
                self._cache.update({i["pk"]: _kept(i) for i in chunk})
            written += len(chunk)
        return written

    def write_uncached(self, puts: Iterable[dict[str, Any]], deletes: Iterable[str]) -> None:
        """Write and delete records never read back through the cache (describe seeds),
        25 to a BatchWriteItem call, each request made only when its batch is sent."""
        requests = itertools.chain(
            ({"PutRequest": {"Item": _typed(i)}} for i in puts),
            ({"DeleteRequest": {"Key": {"pk": {"S": pk}}}} for pk in deletes))
        for chunk in _batches(requests):
            self._batch_write(chunk)

    def _batch_write(self, pending: list[dict[str, Any]]) -> None:
        for attempt in range(BATCH_ATTEMPTS):
            response = self._client.batch_write_item(RequestItems={self.table: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table, [])
            if not pending:
                return
            time.sleep(min(1.0, 0.05 * 2 ** attempt))  # throttled: back off, then retry
        raise RuntimeError(f"{len(pending)} status items left unprocessed by "
                           f"BatchWriteItem after {BATCH_ATTEMPTS} attempts")

    def put_revision(self, revision: RevisionStatus) -> bool:
        item = {"pk": REVISION_PK, "seen": revision.seen, "valid": revision.valid,
                "lastGood": revision.last_good, "message": revision.message,
                "problems": list(revision.problems)}
        return self._write(item)

    def get_item(self, pk: str) -> dict[str, Any] | None:
        """One item by key, read consistently (for records other than resource status)."""
        response = self._client.get_item(TableName=self.table, Key={"pk": {"S": pk}},
                                         ConsistentRead=True)
        return _plain(response["Item"]) if "Item" in response else None

    def put_item(self, item: dict[str, Any]) -> bool:
        """Write a record (a dict with "pk") if it changed."""
        return self._write(item)

    def delete_item(self, pk: str) -> bool:
        """Remove a record (a pruned resource's status, a released hold); True when one
        was known to exist."""
        with self._lock:
            known = self._cache.pop(pk, None) is not None
        self._client.delete_item(TableName=self.table, Key={"pk": {"S": pk}})
        return known

    def put_uncached(self, item: dict[str, Any]) -> None:
        """Write a record that is never read back through the cache (a history entry)."""
        self._client.put_item(TableName=self.table, Item=_typed(item))

    def scan_prefix(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Records whose key starts with `prefix`, read from the table (a filtered scan),
        one page at a time: a reader of thousands (describe seeds) never holds them all."""
        for page in self._client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True,
                FilterExpression="begins_with(pk, :prefix)",
                ExpressionAttributeValues={":prefix": {"S": prefix}}):
            for raw in page["Items"]:
                yield _plain(raw)

    def items_with_prefix(self, prefix: str) -> list[dict[str, Any]]:
        """Records whose key starts with `prefix` ("user#", "history#"), as last loaded
        or written by this store (load() reads the whole table once)."""
        with self._lock:
            return [dict(item) for pk, item in sorted(self._cache.items())
                    if pk.startswith(prefix) and isinstance(item, dict)]

    def _write(self, item: dict[str, Any]) -> bool:
        with self._lock:
            if self._cache.get(item["pk"]) == _kept(item):
                return False
        self._client.put_item(TableName=self.table, Item=_typed(item))
        with self._lock:
            self._cache[item["pk"]] = _kept(item)
        return True


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    """`items` in lists of BATCH_SIZE (the last one shorter), read as they are needed."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, BATCH_SIZE)):
        yield chunk


def _kept(item: dict[str, Any]) -> dict[str, Any] | bytes:
    """What the store keeps of an item it loaded or wrote: a resource status (it has a
    "kind"; every value a string) as a digest of its canonical JSON, anything else whole."""
    if "kind" not in item:
        return item
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(value) for key, value in item.items()}


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: _interned(_DESERIALIZER.deserialize(value)) for key, value in raw.items()}


def _interned(value: Any) -> Any:
    """`value` with its strings interned: what is read back of thousands of records
    (kinds, regions, condition types and reasons, revisions, domain ids) is a few
    values repeated, one object each instead of one per record."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, list):
        return [_interned(v) for v in value]
    if isinstance(value, dict):
        return {sys.intern(k): _interned(v) for k, v in value.items()}
    return value
