"""The emulator's own EFS state, beside moto's file systems, and their real folders.

moto keeps file systems, mount targets and access points; the emulator adds what moto
lacks: a real folder per file system (efs_root/<fs-id>/, standing in for the mounted
EFS), replication overwrite protection, backup and file system policies, throughput updates, access
point client tokens and cross-region replication configurations. Replication is scoped
per account (a configuration spans two regions); everything else per account and region.
This module must not parse requests, call moto, or copy file contents.
"""

from __future__ import annotations

import random
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.emulator.lifecycle import Lifecycle

FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")
FsKey = tuple[str, str, str]  # (account, region, file system id)
ORDER_SEED = 0


class EfsFolders:
    """efs_root/<fs-id>/: the folder that stands in for a mounted file system."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, file_system_id: str) -> Path:
        # Ids come from requests: never let one name a path outside the root.
        if not FILE_SYSTEM_ID.fullmatch(file_system_id):
            raise ValueError(f"not a file system id: {file_system_id!r}")
        return self.root / file_system_id

    def ensure(self, file_system_id: str) -> Path:
        folder = self.path(file_system_id)
        folder.mkdir(mode=0o755, exist_ok=True)
        return folder

    def remove(self, file_system_id: str) -> None:
        shutil.rmtree(self.path(file_system_id), ignore_errors=True)

    def wipe(self) -> None:
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


@dataclass
class Replication:
    """One replication configuration: a source file system and its single destination.

    A configuration has a side in each of its two regions. Deleting it with
    ALL_CONFIGURATIONS removes both; LOCAL_CONFIGURATION_ONLY removes only the calling
    region's side (`side_deletions`), and the other side stays behind, orphaned, in
    ERROR: nothing is mirrored any more, and its region still finds the file system in
    a configuration until it deletes that side too.
    """

    account: str
    source_region: str
    source_id: str
    source_arn: str
    original_source_arn: str
    destination_region: str
    destination_id: str
    lifecycle: Lifecycle  # ENABLING -> ENABLED; DELETING -> gone (both sides)
    last_replicated: float | None = None
    first_pass_done: bool = False
    # Region -> the deletion of that region's side alone (LOCAL_CONFIGURATION_ONLY).
    side_deletions: dict[str, Lifecycle] = field(default_factory=dict)
    # The destination stands alone (writable, protection ENABLED); done once.
    destination_released: bool = False

    def status(self, now: float) -> str:
        current = self.lifecycle.current(now)
        # ENABLED only once the initial copy has really happened, as in EFS.
        if current == "ENABLED" and not self.first_pass_done:
            return "ENABLING"
        return current

    def has_side(self, region: str, now: float) -> bool:
        """Whether `region` still holds its side of the configuration."""
        if region not in (self.source_region, self.destination_region):
            return False
        if self.lifecycle.is_gone(now):
            return False
        deletion = self.side_deletions.get(region)
        return deletion is None or not deletion.is_gone(now)

    def is_gone(self, now: float) -> bool:
        return not any(self.has_side(r, now) for r in (self.source_region,
                                                         self.destination_region))

    def mirroring(self, now: float) -> bool:
        """Data flows only while both sides are whole and nothing is being deleted."""
        return not self.side_deletions and self.status(now) in ("ENABLING", "ENABLED")

    def status_seen_from(self, region: str, now: float) -> str:
        if region in self.side_deletions:
            return "DELETING"
        if self.side_deletions:
            return "ERROR"  # the other region deleted its side: this one is orphaned
        return self.status(now)

    def involves(self, account: str, region: str, file_system_id: str) -> bool:
        return account == self.account and (
            (region, file_system_id)
            in (
                (self.source_region, self.source_id),
                (self.destination_region, self.destination_id),
            )
        )

    def describe(self, now: float, region: str | None = None) -> dict[str, Any]:
        status = self.status_seen_from(region, now) if region else self.status(now)
        destination: dict[str, Any] = {
            "Status": status,
            "FileSystemId": self.destination_id,
            "Region": self.destination_region,
            "OwnerId": self.account,
        }
        if status == "ERROR":
            other = next(iter(self.side_deletions))
            destination["StatusMessage"] = (
                f"The replication configuration was deleted in {other} only; this side "
                "cannot be recovered. Delete it."
            )
        if self.last_replicated is not None:
            destination["LastReplicatedTimestamp"] = round(self.last_replicated, 3)
        return {
            "SourceFileSystemId": self.source_id,
            "SourceFileSystemRegion": self.source_region,
            "SourceFileSystemArn": self.source_arn,
            "OriginalSourceFileSystemArn": self.original_source_arn,
            "SourceFileSystemOwnerId": self.account,
            "CreationTime": round(self.lifecycle.created_at, 3),
            "Destinations": [destination],
        }


@dataclass
class EfsStore:
    folders: EfsFolders
    lock: threading.RLock = field(default_factory=threading.RLock)
    protection: dict[FsKey, str] = field(default_factory=dict)
    backup_policies: dict[FsKey, str] = field(default_factory=dict)
    # File system policies (JSON text), answered here: moto cannot delete one.
    policies: dict[FsKey, str] = field(default_factory=dict)
    throughput: dict[FsKey, dict[str, Any]] = field(default_factory=dict)
    # (account, region, client token) -> (access point id, what was asked for)
    access_point_tokens: dict[FsKey, tuple[str, str]] = field(default_factory=dict)
    replications: list[Replication] = field(default_factory=list)
    # Called with each configuration whose destination side has just been deleted (the
    # replicator moves what the replica held beyond its source into EFS's lost+found).
    on_deleted: Callable[[Replication], None] | None = None
    # The emulator's clock, for lookups that must not see a side already deleted.
    clock: Callable[[], float] = time.time
    # DescribeFileSystems' order is unspecified (model): listings are shuffled, from a
    # generator seeded again on every reset so that a test sees the same orders each run.
    order: random.Random = field(default_factory=lambda: random.Random(ORDER_SEED))

    def _now(self) -> float:
        return self.clock()

    def protection_of(self, key: FsKey) -> str:
        return self.protection.get(key, "ENABLED")

    def sweep(self, now: float) -> None:
        """Finish deletions whose time has come: once the destination's side is gone the
        destination stands alone; once both sides are gone the configuration is."""
        for replication in list(self.replications):
            if not replication.has_side(replication.destination_region, now) and (
                    not replication.destination_released):
                replication.destination_released = True
                destination = (
                    replication.account,
                    replication.destination_region,
                    replication.destination_id,
                )
                self.protection[destination] = "ENABLED"
                if self.on_deleted is not None:
                    self.on_deleted(replication)
            if replication.is_gone(now):
                self.replications.remove(replication)

    def replication_of(self, account: str, region: str, file_system_id: str) -> Replication | None:
        """The configuration `file_system_id` takes part in, as `region` sees it (a side
        deleted in that region is no longer seen there)."""
        now = self._now()
        return next(
            (r for r in self.replications
             if r.involves(account, region, file_system_id) and r.has_side(region, now)),
            None,
        )

    def replication_by_source(
        self, account: str, region: str, source_id: str
    ) -> Replication | None:
        """The configuration whose *source* is `source_id`, if `region` holds a side of it
        (DeleteReplicationConfiguration names a configuration so, from either region)."""
        now = self._now()
        return next(
            (r for r in self.replications
             if r.account == account and r.source_id == source_id and r.has_side(region, now)),
            None,
        )

    def forget_file_system(self, key: FsKey) -> None:
        for table in (self.protection, self.backup_policies, self.throughput, self.policies):
            table.pop(key, None)
        self.folders.remove(key[2])

    def reset(self) -> None:
        with self.lock:
            self.protection.clear()
            self.backup_policies.clear()
            self.policies.clear()
            self.throughput.clear()
            self.access_point_tokens.clear()
            self.replications.clear()
            self.order.seed(ORDER_SEED)
            self.folders.wipe()
