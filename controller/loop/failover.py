"""Following the active-region flag: record each failover's phases and recovery time.

Flipping Estate.spec.activeRegion is the whole user action; the plan does the rest
(PromoteReplica, then domains, profiles and shares in the new active region). This
tracker persists, before the first pass acts on it, that this region has become the
active one, then the phase (Promoting while the replica is not yet writable,
Converging while actions remain, Complete when every resource is Ready) and, at the
end, the recovery time. A restarted controller reads it back and carries on.

A standby region records where it stands in a failback (Fencing, Saving,
ReadyForFailback, Replicating, InSync), worked out again from each pass's plan and
observations, and says so in the log when its copy is back in sync. Before that, an old
active region whose flag has moved away waits (AwaitingTakeover) until the new region
has recorded its takeover here, in its own record (controller.plan.takeover), and
exports how long it has waited; when the flag comes back before anyone took over,
nothing happened: it says so and reports no recovery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from controller.clock import Clock
from controller.logs import get_logger
from controller.metrics import FAILOVER_PHASE, FAILOVER_RECOVERY, TAKEOVER_AWAITED
from controller.model import DesiredState
from controller.observed import ObservedFileSystem, ObservedState
from controller.plan import Plan
from controller.plan.takeover import awaiting_takeover
from controller.plan.types import TAKING_OVER
from controller.status.failover_record import PK, FailoverRecord
from controller.status.history import HistoryEntry
from controller.status.store import DynamoStatusStore

__all__ = ["PK", "FailoverRecord", "FailoverTracker"]

# Active region: Steady, then on a failover Promoting -> Converging -> Complete.
# Standby region: Standby, or while failing back (AwaitingTakeover ->) Fencing -> Saving
# -> ReadyForFailback -> Replicating -> InSync (its copy is a replica within the lag
# threshold again).
PHASES = ("Steady", "Promoting", "Converging", "Complete", "Standby", "Fencing", "Saving",
          "ReadyForFailback", "Replicating", "InSync", "AwaitingTakeover")
STANDBY_PHASES = PHASES[4:]
_FENCING = ("StopStudioApps", "FenceFileSystem")
_SAVING = ("SaveUnreplicatedWrites", "AllowReplicationOverwrite")


class FailoverTracker:
    def __init__(self, store: DynamoStatusStore, region: str, clock: Clock,
                 history: Callable[[list[HistoryEntry]], None] | None = None) -> None:
        self.store = store
        self.region = region
        self.clock = clock
        # Where a completed failover or failback is recorded (controller.status.history).
        self.history = history
        self.log = get_logger(region=region)
        item = store.get_item(PK)
        self.record = FailoverRecord.from_item(item) if item else FailoverRecord()
        self._export()

    def on_plan(self, desired: DesiredState, plan: Plan, seen_at: float | None = None) -> None:
        """Persist a change of role after planning, before any action is taken.

        A failover (or failback) into this region is recognised either way it shows:
        the stored record says another region was active, or this region's copy of a
        file system is still a replica that the plan promotes. While this region holds
        itself active, the record also says which revision it acts on: the old region
        reads that before it fences itself.
        """
        active = desired.estate.active_region
        record = self.record
        promotes = any(action.name in TAKING_OVER for action in plan.actions)
        moved_here = bool(record.active_region) and record.active_region != active
        now = self.clock.now()
        seen = min(now, seen_at) if seen_at else now
        if active == self.region and moved_here and record.phase in (
                "Standby", "AwaitingTakeover") and not promotes and not any(
                action.name == "LiftFence" for action in plan.actions):
            # Flipped back before the other region took over: nothing was fenced or
            # moved here, so there is no failover to measure, only a flag that came home.
            self.log.info("flag_returned_before_takeover", revision=desired.revision,
                          flipped_to=record.active_region,
                          message="nothing was fenced or moved; no failover happened")
            self._save(FailoverRecord(active, "Steady", desired.revision,
                                      acting_revision=desired.revision))
        elif active == self.region and (promotes or moved_here) and record.phase not in (
                "Promoting", "Converging"):
            self._save(FailoverRecord(active, "Promoting", desired.revision, seen,
                                      acting_revision=desired.revision))
        elif active != self.region and record.active_region != active:
            # When this region saw the flag move away: how long a takeover has been awaited.
            self._save(FailoverRecord(active, "Standby", desired.revision, seen))
        elif not record.active_region:
            self._save(FailoverRecord(active, "Steady", desired.revision, acting_revision=(
                desired.revision if active == self.region else "")))
        elif active == self.region and record.acting_revision != desired.revision:
            self._save(replace(record, acting_revision=desired.revision))
        if active == self.region:
            TAKEOVER_AWAITED.set(0)

    def promoted(self) -> None:
        """Every replica of this pass is writable: Converging starts now."""
        if self.record.phase == "Promoting":
            self._save(replace(self.record, phase="Converging"))

    def after_pass(self, promoting: bool, actions_left: bool, all_ready: bool,
                   desired: DesiredState | None = None) -> None:
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
            self._history_of_completion(desired)
            return
        if phase != self.record.phase:
            self._save(replace(self.record, phase=phase))

    def after_standby_pass(self, desired: DesiredState, plan: Plan,
                           observed: ObservedState) -> None:
        """Where this standby region stands in a failback, from this pass's plan and
        what it saw (level-triggered: worked out again every pass)."""
        if desired.estate.active_region == self.region:
            return
        names = {action.name for action in plan.actions}
        copies = [(name, fs) for name, fs in sorted(observed.references.file_systems.items())
                  if fs is not None and desired.file_systems[name].replicate]
        waiting = awaiting_takeover(desired, observed)
        since = self.record.started_at or self.clock.now()
        TAKEOVER_AWAITED.set(max(0.0, self.clock.now() - since) if waiting else 0)
        if waiting:
            phase = "AwaitingTakeover"
            if self.record.phase != phase:
                self.log.warning("takeover_awaited", active_region=desired.estate.active_region,
                                 revision=desired.revision, message=waiting)
        elif names & set(_FENCING):
            phase = "Fencing"
        elif names & set(_SAVING):
            phase = "Saving"
        elif any(not fs.is_replica() for _, fs in copies):
            phase = ("ReadyForFailback" if any(
                not fs.is_replica() and fs.replication_overwrite_protection == "DISABLED"
                for _, fs in copies) else "Fencing")
        elif copies and all(self._in_sync(desired, name, fs) for name, fs in copies):
            phase = "InSync"
        elif copies:
            phase = "Replicating"
        else:
            phase = "Standby"
        if phase != self.record.phase:
            if phase == "InSync":
                self.log.info("failback_in_sync", region=self.region,
                              active_region=desired.estate.active_region)
            self._save(replace(self.record, active_region=desired.estate.active_region,
                               phase=phase, revision=desired.revision, started_at=since))

    def _history_of_completion(self, desired: DesiredState | None) -> None:
        """A failover into this region is in the history; into the primary region, after
        one away from it, it is the failback."""
        if self.history is None or desired is None:
            return
        estate = desired.estate
        other = next((r for r in estate.regions if r != self.region), "")
        record = self.record
        self.history([HistoryEntry(
            record.completed_at, "failback" if self.region == estate.primary_region
            else "failover", record.revision, self.region, "ok", source=other,
            target=self.region, seconds=record.recovery_seconds,
            message=f"every resource Ready in {self.region} "
                    f"{record.recovery_seconds:.1f}s after the flip was seen")])

    def _in_sync(self, desired: DesiredState, name: str, fs: ObservedFileSystem) -> bool:
        replication = fs.replication
        if replication is None or replication.status != "ENABLED" or (
                replication.last_replicated is None):
            return False
        lag = self.clock.now() - replication.last_replicated.timestamp()
        return lag <= desired.file_systems[name].replication_lag_threshold_seconds

    def _save(self, record: FailoverRecord) -> None:
        self.store.put_item(record.to_item())
        self.record = record
        self._export()

    def _export(self) -> None:
        for phase in PHASES:
            FAILOVER_PHASE.labels(phase).set(1 if phase == self.record.phase else 0)
        FAILOVER_RECOVERY.set(self.record.recovery_seconds)
