"""The history: every restore, failover, failback, snapshot, prune and recreation, in the
status table ("history#<time>#<id>"), kept for the Estate's historyRetentionDays.

An entry says who asked (the desired-state revision, or `studioctl` for one-off work),
what, from where to where, files, bytes, how long and with what result. Entries are
written once and never changed; they carry `expiresAt` (epoch seconds) for DynamoDB's
TTL, and the controller also removes expired ones itself (TTL deletes within days, not
on the hour; and the emulator keeps expired items). Entries are not cached by the store
(they only grow); `studioctl history` reads them with a filtered scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from controller.status.store import DynamoStatusStore

PREFIX = "history#"
WHATS = ("restore", "failover", "failback", "snapshot", "prune", "recreation",
         "notebook-migration")


@dataclass(frozen=True)
class HistoryEntry:
    at: float  # when it ended (or was decided), epoch seconds
    what: str  # one of WHATS
    who: str  # the revision that asked, or "studioctl:<user>" (controller.cli.job_history)
    region: str
    result: str  # ok, failed, declined, nothing to restore, ...
    source: str = ""
    target: str = ""
    profile: str = ""  # "domain/profile" when it concerns one
    files: int | None = None
    bytes: int | None = None
    seconds: float | None = None
    message: str = ""


def to_item(entry: HistoryEntry, retention_days: int) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": f"{PREFIX}{entry.at:017.6f}#{os.urandom(4).hex()}",
                            "expiresAt": int(entry.at + retention_days * 86400)}
    for name, value in asdict(entry).items():
        if value is None or value == "":
            continue
        item[name] = str(value) if isinstance(value, float) else value
    return item


def from_item(item: dict[str, Any]) -> HistoryEntry:
    def number(name: str, kind: type) -> Any:
        value = item.get(name)
        return None if value is None else kind(value)

    return HistoryEntry(at=float(item["at"]), what=str(item["what"]), who=str(item["who"]),
                        region=str(item.get("region", "")), result=str(item.get("result", "")),
                        source=str(item.get("source", "")), target=str(item.get("target", "")),
                        profile=str(item.get("profile", "")), files=number("files", int),
                        bytes=number("bytes", int), seconds=number("seconds", float),
                        message=str(item.get("message", "")))


class HistoryLog:
    """Appends entries and removes expired ones; reads them for `studioctl history`."""

    def __init__(self, store: DynamoStatusStore, retention_days: int = 365) -> None:
        self.store = store
        self.retention_days = retention_days

    def append(self, entries: Iterable[HistoryEntry]) -> int:
        written = 0
        for entry in entries:
            self.store.put_uncached(to_item(entry, self.retention_days))
            written += 1
        return written

    def entries(self, profile: str | None = None, since: float | None = None
                ) -> list[HistoryEntry]:
        """Every entry (of one profile, from a time), oldest first."""
        found = [from_item(item) for item in self.store.scan_prefix(PREFIX)]
        return sorted((e for e in found if (profile is None or e.profile == profile)
                       and (since is None or e.at >= since)), key=lambda e: e.at)

    def remove_expired(self, now: float) -> int:
        """Delete entries older than the retention; returns how many."""
        removed = 0
        # Read whole before deleting: a scan is not paged across items deleted under it.
        for item in list(self.store.scan_prefix(PREFIX)):
            if int(item.get("expiresAt", 0)) <= now:
                self.store.delete_item(str(item["pk"]))
                removed += 1
        return removed


def append_quietly(store: DynamoStatusStore, entries: Iterable[HistoryEntry],
                   retention_days: int, log: Any) -> None:
    """For work that ends on a worker thread, after its pass (snapshots, restores): the
    entry is written there; a failed write is logged, never raised (the work is done)."""
    entries = list(entries)
    try:
        HistoryLog(store, retention_days).append(entries)
    except Exception as error:
        log.warning("history_write_failed", entries=len(entries),
                    error=f"{type(error).__name__}: {error}")
