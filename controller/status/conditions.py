"""Conditions in the Kubernetes manner: Ready, Synced, Degraded.

Each has a status ("True", "False", "Unknown"), a CamelCase reason, a message for
people, and the time it last changed status (not the time it was last written: a
condition re-set to the same status keeps its transition time). Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

READY, SYNCED, DEGRADED = "Ready", "Synced", "Degraded"
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True, slots=True)  # three per resource: no __dict__ each
class Condition:
    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: float = 0.0

    def to_item(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "reason": self.reason,
                "message": self.message, "lastTransitionTime": str(self.last_transition_time)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Condition:
        return cls(item["type"], item["status"], item["reason"], item.get("message", ""),
                   float(item.get("lastTransitionTime", 0)))


def set_condition(conditions: Iterable[Condition], new: Condition,
                  now: float) -> tuple[Condition, ...]:
    """`conditions` with `new` in place of its type; the transition time moves only when
    the status changes."""
    result: list[Condition] = []
    placed = False
    for existing in conditions:
        if existing.type != new.type:
            result.append(existing)
            continue
        placed = True
        moved = existing.status != new.status
        result.append(replace(new, last_transition_time=now if moved
                              else existing.last_transition_time))
    if not placed:
        result.append(replace(new, last_transition_time=now))
    return tuple(sorted(result, key=lambda c: c.type))


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
