"""Persisting notebook migrations: each step's record written before its action runs.

The plan works out each migration's next step and record (controller.plan.notebook
_migration); this tracker writes the records that changed to the region's status table
after planning and before any action is taken, as the failover tracker does for a
failover's phases, so that a controller killed at any point finds, after its restart,
the new instance's name and the snapshot it restores, and never makes a second one. A
failed write stops the pass before its actions (the error propagates). It logs each
change of phase, exports the phase, and records a finished migration in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.clock import Clock
from controller.logs import get_logger
from controller.metrics import NOTEBOOK_MIGRATION_PHASE
from controller.notebooks.migration import PHASES, PREFIX, NotebookMigration
from controller.plan import Plan
from controller.status.history import HistoryEntry
from controller.status.store import DynamoStatusStore


class NotebookMigrationTracker:
    def __init__(self, store: DynamoStatusStore, region: str, clock: Clock,
                 history: Callable[[list[HistoryEntry]], None] | None = None) -> None:
        self.store = store
        self.region = region
        self.clock = clock
        self.history = history
        self.log = get_logger(region=region)
        # Read from the table itself: the cache may not hold them yet after a restart.
        self._records = {r.notebook: r for r in (
            NotebookMigration.from_item(item) for item in store.scan_prefix(PREFIX))}
        for record in self._records.values():
            self._export(record)

    @property
    def records(self) -> Mapping[str, NotebookMigration]:
        return dict(self._records)

    def on_plan(self, plan: Plan) -> None:
        """Persist the plan's records before any of its actions runs."""
        for record in plan.migrations:
            before = self._records.get(record.notebook)
            if before == record:
                continue
            self.store.put_item(record.to_item())
            self._records[record.notebook] = record
            self._export(record)
            if before is None or before.phase != record.phase or before.old_instance != (
                    record.old_instance):
                self.log.info("notebook_migration", notebook=record.notebook,
                              phase=record.phase, old_instance=record.old_instance,
                              new_instance=record.new_instance, snapshot=record.snapshot,
                              final_snapshot=record.final_snapshot)
            if record.complete and (before is None or not before.complete):
                self._history(record)

    def _history(self, record: NotebookMigration) -> None:
        if self.history is None:
            return
        kept = record.new_instance == record.old_instance
        self.history([HistoryEntry(
            self.clock.now(), "notebook-migration", record.revision, self.region,
            "cancelled" if kept else "ok", source=record.old_instance,
            target=record.new_instance,
            seconds=round(record.completed_at - record.started_at, 3),
            message=(f"the change was undone before {record.old_instance} was replaced"
                     if kept else f"{record.from_platform} -> {record.to_platform}, "
                     f"restored {record.snapshot}" + (
                         f"; {record.old_instance} deleted after its seal, held in "
                         f"{record.final_snapshot}" if record.final_snapshot else "")))])

    @staticmethod
    def _export(record: NotebookMigration) -> None:
        for phase in PHASES:
            NOTEBOOK_MIGRATION_PHASE.labels(record.notebook, phase).set(
                1 if phase == record.phase else 0)
