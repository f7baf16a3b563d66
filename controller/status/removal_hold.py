"""The removal guard's record: a held prune, one item in the status table.

Written by the controller when the guard holds a deletion (controller.plan.removal_guard),
read back on every pass (a confirmation is checked against it) and by `studioctl status`;
removed once nothing is left to delete. This module only maps the record to and from
its item.
"""

from __future__ import annotations

from typing import Any

from controller.observed import RemovalHold

PK = "removal-hold"


def to_item(hold: RemovalHold) -> dict[str, Any]:
    return {"pk": PK, "revision": hold.revision, "keys": sorted(hold.keys),
            "heldAt": str(hold.held_at)}


def from_item(item: dict[str, Any] | None) -> RemovalHold | None:
    if not item or not item.get("revision"):
        return None
    return RemovalHold(str(item["revision"]), frozenset(str(k) for k in item.get("keys", [])),
                       float(item.get("heldAt", 0)))
