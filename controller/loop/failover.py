"""Following the active-region flag: record each failover's phases and recovery time.

Flipping Estate.spec.activeRegion is the whole user action; the plan does the rest
(PromoteReplica, then domains, profiles and shares in the new active region). This
tracker persists, before the first pass acts on it, that this region has become the
active one, then the phase (Promoting while the replica is not yet writable,
Converging while actions remain, Complete when every resource is Ready) and, at the
end, the recovery time. A restarted controller reads it back and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from controller.clock import Clock
from controller.metrics import FAILOVER_PHASE, FAILOVER_RECOVERY
from controller.model import DesiredState
from controller.plan import Plan
from controller.status.store import DynamoStatusStore

PHASES = ("Steady", "Standby", "Promoting", "Converging", "Complete")
PK = "failover"


@dataclass(frozen=True)
class FailoverRecord:
    active_region: str = ""
    phase: str = "Steady"
    revision: str = ""
    started_at: float = 0.0
    completed_at: float = 0.0
    recovery_seconds: float = 0.0

    def to_item(self) -> dict[str, Any]:
        return {"pk": PK, "activeRegion": self.active_region, "phase": self.phase,
                "revision": self.revision, "startedAt": str(self.started_at),
                "completedAt": str(self.completed_at),
                "recoverySeconds": str(self.recovery_seconds)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FailoverRecord:
        return cls(item.get("activeRegion", ""), item.get("phase", "Steady"),
                   item.get("revision", ""), float(item.get("startedAt", 0)),
                   float(item.get("completedAt", 0)), float(item.get("recoverySeconds", 0)))


class FailoverTracker:
    def __init__(self, store: DynamoStatusStore, region: str, clock: Clock) -> None:
        self.store = store
        self.region = region
        self.clock = clock
        item = store.get_item(PK)
        self.record = FailoverRecord.from_item(item) if item else FailoverRecord()
        self._export()

    def on_plan(self, desired: DesiredState, plan: Plan) -> None:
        """Persist a change of role after planning, before any action is taken.

        A failover (or failback) into this region is recognised either way it shows:
        the stored record says another region was active, or this region's copy of a
        file system is still a replica that the plan promotes.
        """
        active = desired.estate.active_region
        record = self.record
        promotes = any(action.name == "PromoteReplica" for action in plan.actions)
        moved_here = bool(record.active_region) and record.active_region != active
        if active == self.region and (promotes or moved_here) and record.phase not in (
                "Promoting", "Converging"):
            self._save(FailoverRecord(active, "Promoting", desired.revision, self.clock.now()))
        elif active != self.region and record.active_region != active:
            self._save(FailoverRecord(active, "Standby", desired.revision))
        elif not record.active_region:
            self._save(FailoverRecord(active, "Steady", desired.revision))

    def after_pass(self, promoting: bool, actions_left: bool, all_ready: bool) -> None:
        if self.record.phase not in ("Promoting", "Converging"):
            return
        if promoting:
            phase = "Promoting"
        elif actions_left or not all_ready:
            phase = "Converging"
        else:
            now = self.clock.now()
            self._save(replace(self.record, phase="Complete", completed_at=now,
                               recovery_seconds=round(now - self.record.started_at, 3)))
            return
        if phase != self.record.phase:
            self._save(replace(self.record, phase=phase))

    def _save(self, record: FailoverRecord) -> None:
        self.store.put_item(record.to_item())
        self.record = record
        self._export()

    def _export(self) -> None:
        for phase in PHASES:
            FAILOVER_PHASE.labels(phase).set(1 if phase == self.record.phase else 0)
        FAILOVER_RECOVERY.set(self.record.recovery_seconds)
