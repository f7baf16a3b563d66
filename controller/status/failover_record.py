"""The failover record: where a region stands in a failover, one item in its status table.

Written by that region's controller (controller.loop.failover) before each phase starts;
read back by it after a restart, by `studioctl status`, and, across regions, by the old
active region, which fences itself only once the new one records its takeover
(controller.observe.takeover). This module only maps the record to and from its item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PK = "failover"


@dataclass(frozen=True)
class FailoverRecord:
    active_region: str = ""
    phase: str = "Steady"
    # The revision the phase began under (a failover: the flip this region saw).
    revision: str = ""
    started_at: float = 0.0
    completed_at: float = 0.0
    recovery_seconds: float = 0.0
    # The latest revision this region's controller acted on while it held itself active:
    # what another region checks a takeover against (not a stale record of an old flip).
    acting_revision: str = ""

    def to_item(self) -> dict[str, Any]:
        return {"pk": PK, "activeRegion": self.active_region, "phase": self.phase,
                "revision": self.revision, "startedAt": str(self.started_at),
                "completedAt": str(self.completed_at),
                "recoverySeconds": str(self.recovery_seconds),
                "actingRevision": self.acting_revision}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FailoverRecord:
        return cls(item.get("activeRegion", ""), item.get("phase", "Steady"),
                   item.get("revision", ""), float(item.get("startedAt", 0)),
                   float(item.get("completedAt", 0)), float(item.get("recoverySeconds", 0)),
                   item.get("actingRevision", ""))
