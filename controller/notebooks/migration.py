"""A notebook instance's migration to a new instance: its record and its facts. Pure.

A setting AWS sets only at creation (the platform, the subnet, ...) changed in git is
carried out by a new instance restored from a snapshot of the old one's volume. The
migration's record, one item in the region's status table, says where it stands; it is
written before each step's action is taken (controller.loop.notebook_migration), as the
failover record is, so a restarted controller carries on from it and never makes a
second new instance. Once complete it keeps saying which instance the NotebookInstance
now is. This module maps the record to and from its item and works out names and owner
maps; it decides nothing (controller.plan.notebook_migration does) and does no I/O.

With deleteOld, nothing a user wrote may be lost, whatever a user of either instance
does. Both instances' users hold an execution role that can usually write the snapshot
bucket, and read the new instance's tags and lifecycle configuration, so nothing in S3
can prove that the new instance restored: a restore marker (restored/<new>) is taken
only if it was written after the new instance was created and names the snapshot and
the instance (which stops a marker planted in advance), but one forged later cannot be
told apart. So the deletion does not rest on the marker. Before the old instance is
deleted it is sealed (phase Sealing): stopped, given the seal lifecycle configuration,
and started once more; the seal snapshots the volume in the foreground, while the
instance is still Pending and no user can reach it, and then fails the start on purpose,
so the instance goes Failed and is never InService again. That snapshot holds everything
the old instance had at its last stop (work written after the first snapshot included);
it is the record's `final_snapshot`, checked by the executor before the delete (the
instance Failed with the seal attached, the snapshot complete, made during that start
and after the stop before it). The record's snapshots are held: retention never deletes
them while the record names them, until HOLD_SECONDS after Complete (`held_snapshots`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.notebooks.spec import EC2_USER, NotebookInstanceSpec, generation

PREFIX = "notebook-migration#"
# In order; a migration moves only forward. Sealing and DeletingOld only when
# spec.migration.deleteOld.
PHASES = ("Snapshotting", "Creating", "Restoring", "StoppingOld", "Sealing", "DeletingOld",
          "Complete")
# A migration's snapshots are kept this long after it completes (then retention decides):
# time to find, and restore by hand, anything the new instance is missing.
HOLD_SECONDS = 30 * 86400.0
# A lifecycle script runs for at most 5 minutes (AWS): a snapshot made during the start
# that failed began at most this long before the instance was marked Failed (plus slack
# for the snapshot's whole-second stamp and the two clocks).
SEAL_WINDOW_SECONDS = 300.0 + 60.0
# The restore's tags on the new instance (read by scripts/restore.sh).
SNAPSHOT_TAG = "studio-operator.io/restore-snapshot"
OWNER_MAP_TAG = "studio-operator.io/restore-owner-map"  # uid pairs ("500:1000 ...")
GROUP_MAP_TAG = "studio-operator.io/restore-group-map"  # gid pairs; absent: the uid pairs
TAG_VALUE_LIMIT = 256  # characters in a SageMaker tag value


@dataclass(frozen=True)
class NotebookMigration:
    notebook: str  # the NotebookInstance's name
    phase: str
    old_instance: str
    new_instance: str
    from_platform: str = ""
    to_platform: str = ""
    revision: str = ""  # the revision that asked for it
    started_at: float = 0.0
    phase_since: float = 0.0  # when the current phase began (the controller's clock)
    # The old instance's last stop as AWS reported it (LastModifiedTime while Stopped): a
    # snapshot it made after this holds everything its user wrote.
    stopped_at: float = 0.0
    snapshot: str = ""  # the snapshot id the new instance restores
    completed_at: float = 0.0
    # Sealing: the old instance's stop before its sealing start (LastModifiedTime while
    # Stopped), and the snapshot that start made: everything it had at its last stop.
    sealed_after: float = 0.0
    final_snapshot: str = ""

    @property
    def pk(self) -> str:
        return f"{PREFIX}{self.notebook}"

    @property
    def complete(self) -> bool:
        return self.phase == "Complete"

    @property
    def current_instance(self) -> str:
        """The instance the NotebookInstance is: the old one until the migration is done."""
        return self.new_instance if self.complete else self.old_instance

    def to_item(self) -> dict[str, Any]:
        return {"pk": self.pk, "notebook": self.notebook, "phase": self.phase,
                "oldInstance": self.old_instance, "newInstance": self.new_instance,
                "fromPlatform": self.from_platform, "toPlatform": self.to_platform,
                "revision": self.revision, "startedAt": str(self.started_at),
                "phaseSince": str(self.phase_since), "stoppedAt": str(self.stopped_at),
                "snapshot": self.snapshot, "completedAt": str(self.completed_at),
                "sealedAfter": str(self.sealed_after), "finalSnapshot": self.final_snapshot}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> NotebookMigration:
        return cls(str(item["notebook"]), str(item["phase"]), str(item["oldInstance"]),
                   str(item["newInstance"]), str(item.get("fromPlatform", "")),
                   str(item.get("toPlatform", "")), str(item.get("revision", "")),
                   float(item.get("startedAt", 0)), float(item.get("phaseSince", 0)),
                   float(item.get("stoppedAt", 0)), str(item.get("snapshot", "")),
                   float(item.get("completedAt", 0)), float(item.get("sealedAfter", 0)),
                   str(item.get("finalSnapshot", "")))


def held_snapshots(records: Iterable[NotebookMigration], now: float) -> frozenset[str]:
    """The snapshot ids retention must keep: those a migration names, while it is under
    way and for HOLD_SECONDS after it completed."""
    return frozenset(
        snapshot for record in records
        if not record.complete or now < record.completed_at + HOLD_SECONDS
        for snapshot in (record.snapshot, record.final_snapshot) if snapshot)


def new_instance_name(spec: NotebookInstanceSpec, current: str) -> str:
    """spec.migration.instanceName, or the document's name with the next generation
    number: research-nb -> research-nb-2 -> research-nb-3 (the validation leaves room)."""
    if spec.migration.instance_name is not None:
        return spec.migration.instance_name
    suffix = current.removeprefix(f"{spec.name}-") if current != spec.name else ""
    number = int(suffix) + 1 if suffix.isdigit() and len(suffix) <= 2 else 2
    return f"{spec.name}-{number}"


def owner_maps(spec: NotebookInstanceSpec, from_platform: str,
               to_platform: str) -> tuple[dict[int, int], dict[int, int]]:
    """(uid map, gid map) for the restore: ec2-user's ids where the platforms' differ
    (500 on Amazon Linux 1, 1000 after), then the spec's own pairs, which win."""
    uids: dict[int, int] = {}
    gids: dict[int, int] = {}
    before = EC2_USER.get(generation(from_platform))
    after = EC2_USER.get(generation(to_platform))
    if before and after and before != after:
        if before[0] != after[0]:
            uids[before[0]] = after[0]
        if before[1] != after[1]:
            gids[before[1]] = after[1]
    uids.update(spec.migration.uid_map)
    gids.update(spec.migration.gid_map)
    return ({k: v for k, v in uids.items() if k != v}, {k: v for k, v in gids.items() if k != v})


def map_tag(pairs: Mapping[int, int]) -> str:
    """"500:1000 501:1001": what restore.sh reads from the tags."""
    return " ".join(f"{k}:{v}" for k, v in sorted(pairs.items()))
