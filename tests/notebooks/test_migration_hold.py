"""Retention never deletes the snapshots a notebook migration names (the first, restored
by the new instance, and the seal's, the only copy of what the deleted old instance
held) while it is under way and for a time after it completed; the others of the same
notebook it prunes as before."""

from __future__ import annotations

from dataclasses import replace

from controller.notebooks.migration import HOLD_SECONDS, NotebookMigration
from controller.notebooks.observed import NotebookObservation
from controller.plan.snapshots import plan_snapshots
from controller.plan.types import Action
from controller.snapshots.observed import ObservedSnapshots, PolicyState
from controller.snapshots.spec import Retention, Schedule, SnapshotPolicySpec
from tests.plan.estates import PRIMARY, empty, estate

NB = "research-nb"
BUCKET = "studio-snapshots-us-east-1"
DAY = 86400.0


def _ids(count: int, start: float) -> tuple[tuple[str, float], ...]:
    return tuple((f"nightly/notebook/{NB}/2026110{i + 1}T070000Z-abcd", start + i * DAY)
                 for i in range(count))


def _pruned(record: NotebookMigration | None, now: float,
            made: tuple[tuple[str, float], ...]) -> list[str]:
    """The ids a pass prunes, sorted."""
    policy = SnapshotPolicySpec("nightly", Schedule(every_seconds=10 * 365 * 86400),
                                {PRIMARY: BUCKET}, retention=Retention(keep_last=2))
    desired = replace(estate({}), snapshot_policies={"nightly": policy})
    observed = replace(
        empty(), observed_at=now,
        snapshots=ObservedSnapshots({"nightly": PolicyState(
            BUCKET, {f"notebook/{NB}": made}, last_slot=now)}),
        notebooks={NB: NotebookObservation(None, migration=record)})
    actions: list[Action] = []
    plan_snapshots(desired, observed, actions, [])
    return sorted(s for a in actions if a.name == "PruneSnapshots"
                  for s in a.params["Snapshots"])


def test_retention_keeps_a_migrations_snapshots_until_a_time_after_it_completed() -> None:
    made = _ids(6, 1_780_000_000.0)
    first, final = made[0][0], made[1][0]
    record = NotebookMigration(NB, "DeletingOld", NB, f"{NB}-2", snapshot=first,
                               final_snapshot=final)
    now = made[-1][1] + 60

    assert _pruned(None, now, made) == [s for s, _ in made[:4]]  # keepLast 2
    assert _pruned(record, now, made) == [s for s, _ in made[2:4]]
    done = replace(record, phase="Complete", completed_at=now)
    assert _pruned(done, now + HOLD_SECONDS - 60, made) == [s for s, _ in made[2:4]]
    assert _pruned(done, now + HOLD_SECONDS + 60, made) == [s for s, _ in made[:4]]
