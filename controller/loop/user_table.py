"""Keeping the user table (controller.status.user_table) up to date after each pass.

The plan says which records are new or changed (plan.records: a profile seen InService
for the first time, its paths or ids changed, a recreation declined or with nothing to
restore); a recreated profile's record moves to its new incarnation only when its
RestoreRecreatedHome has succeeded, so that the restore happens once and is tried again
if it was cut short. A pruned profile's record goes with it: a new profile of that name,
later, is someone else, whose home must not be filled with the old one's files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.observed import ProfileRecord
from controller.plan import Plan
from controller.status import user_table
from controller.status.store import DynamoStatusStore


class UserTable:
    def __init__(self, store: DynamoStatusStore) -> None:
        self.store = store
        self.records: dict[str, ProfileRecord] = {
            f"{r.domain}/{r.name}": r
            for r in (user_table.from_item(item)
                      for item in store.items_with_prefix(user_table.PREFIX))}

    def after_pass(self, plan: Plan, outcomes: Iterable[Any]) -> list[ProfileRecord]:
        """Write what changed; returns the records of profiles restored this pass."""
        for record in plan.records:
            self._save(record)
        restored: list[ProfileRecord] = []
        by_key = {(o.key, o.action): o for o in outcomes}
        for action in plan.actions:
            outcome = by_key.get((action.key, action.name))
            if action.name == "RestoreRecreatedHome" and outcome is not None and (
                    outcome.outcome == "ok"):
                fields = dict(action.params["Record"])
                fields["custom_paths"] = tuple(tuple(p) for p in fields["custom_paths"])
                record = ProfileRecord(**fields)
                self._save(record)
                restored.append(record)
        return restored

    def forget(self, qualified: str) -> None:
        if self.records.pop(qualified, None) is not None:
            self.store.delete_item(user_table.pk(qualified))

    def _save(self, record: ProfileRecord) -> None:
        self.records[record.qualified_name] = record
        self.store.put_item(user_table.to_item(record))
