"""Leader election among a region's controller replicas: a lease in the status table.

One item (pk "lease") says who holds the lease and until when. A replica takes or
renews it with a conditional write that succeeds only if nobody holds it, it already
holds it, or the holder's lease has run out; everyone else stands by. Only the holder
acts; it checks, before each action, that its lease still has a safety margin left and
renews it when half of it has gone, so a replica that stalls (or loses the table) stops
acting before another one may take over. Times are the controller clock's epoch
seconds; clock skew between replicas must stay well under the margin.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from controller.clock import Clock
from controller.errors import LeaseLost
from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.metrics import LEADER

LEASE_PK = "lease"


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    def __init__(self, gateway: AwsGateway, region: str, table: str, clock: Clock,
                 holder: str | None = None, duration_seconds: float = 30.0) -> None:
        self._client = gateway.client("dynamodb", region)
        self.table = table
        self.clock = clock
        self.holder = holder or default_holder()
        self.duration = duration_seconds
        self.margin = duration_seconds / 3  # stop acting this long before it runs out
        self.expires_at = 0.0  # of our lease, as last written; 0: not held
        self._said_standing_by = False
        self.log = get_logger(region=region)
        LEADER.set(0)

    @property
    def retry_seconds(self) -> float:
        """How long a replica standing by waits between tries: a third of the lease, so a
        lapsed lease is taken within that, at two DynamoDB calls per try."""
        return self.duration / 3

    @property
    def renewal_retry_seconds(self) -> float:
        """How long the holder waits after a failed renewal: short enough for a few more
        tries between renewal (half the lease left) and the safety margin (a third)."""
        return self.duration / 10

    @property
    def held(self) -> bool:
        return self.clock.now() < self.expires_at - self.margin

    def hold(self) -> bool:
        """Take or renew the lease; True while this replica leads."""
        now = self.clock.now()
        expires = now + self.duration
        try:
            self._client.put_item(
                TableName=self.table,
                Item={"pk": {"S": LEASE_PK}, "holder": {"S": self.holder},
                      "expiresAt": {"N": f"{expires:.3f}"}},
                ConditionExpression="attribute_not_exists(pk) OR holder = :me "
                                    "OR expiresAt < :now",
                ExpressionAttributeValues={":me": {"S": self.holder},
                                           ":now": {"N": f"{now:.3f}"}})
        except self._client.exceptions.ConditionalCheckFailedException:
            self._set(0.0, self._current_holder())
            return False
        self._set(expires, self.holder)
        return True

    def check(self) -> None:
        """Before an action: renew when half the lease has gone; raise LeaseLost when it
        cannot be held with the safety margin left."""
        remaining = self.expires_at - self.clock.now()
        if remaining < self.duration / 2:
            try:
                if self.hold():
                    return
            except Exception as error:  # the table unreachable: lead only while safe
                self.log.warning("lease_renewal_failed", error=f"{type(error).__name__}: "
                                                               f"{error}")
        if not self.held:
            raise LeaseLost(f"lease of {self.holder} ran out or was taken over")

    def release(self) -> None:
        """Give the lease up at a clean stop, so a standing-by replica takes over at once."""
        if self.expires_at == 0.0:
            return
        try:
            self._client.delete_item(
                TableName=self.table, Key={"pk": {"S": LEASE_PK}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}})
        except Exception as error:  # it runs out on its own anyway
            self.log.warning("lease_release_failed", error=f"{type(error).__name__}: {error}")
        self._set(0.0, None)

    def _current_holder(self) -> str | None:
        item: dict[str, Any] = self._client.get_item(
            TableName=self.table, Key={"pk": {"S": LEASE_PK}}, ConsistentRead=True).get(
            "Item", {})
        return item.get("holder", {}).get("S")

    def _set(self, expires_at: float, leader: str | None) -> None:
        was = self.expires_at > 0.0
        self.expires_at = expires_at
        leading = expires_at > 0.0
        LEADER.set(1 if leading else 0)
        if leading and not was:
            self.log.info("leading", holder=self.holder)
            self._said_standing_by = False
        elif not leading and (was or not self._said_standing_by):
            # Standing by is the normal state of every replica but one: not a warning.
            self.log.info("standing_by", holder=self.holder, leader=leader)
            self._said_standing_by = True

    def seconds_to_renewal(self) -> float:
        """When the controller loop should come back to keep (or try for) the lease."""
        if self.expires_at == 0.0:
            return self.retry_seconds
        return max(0.0, self.expires_at - self.duration / 2 - self.clock.now())
