"""Turning what a pass did into history entries (controller.status.history).

Prune's deletions (DeleteUserProfile, DeleteDomain), recreations (a restore done, or
declined, or with nothing left to restore) and failovers (recorded by the failover
tracker through `record`) become entries, with the revision that asked for them.
Executors that know more (files, bytes) add their own entries to the execution context.
Expired entries are removed about once an hour. A history write that fails is logged
and never fails the pass: the history is a record, not a step of the work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.clock import Clock
from controller.logs import get_logger
from controller.model import DesiredState
from controller.observed import ProfileRecord
from controller.plan import Plan
from controller.plan.recreation import DECLINED, GONE
from controller.status.history import HistoryEntry, HistoryLog

_EXPIRY_SECONDS = 3600.0
_PRUNED = {"DeleteUserProfile": "user profile", "DeleteDomain": "domain"}


class HistoryRecorder:
    def __init__(self, log: HistoryLog, region: str, clock: Clock) -> None:
        self.log = log
        self.region = region
        self.clock = clock
        self._logger = get_logger(region=region)
        self._next_expiry = 0.0

    def record(self, entries: Iterable[HistoryEntry]) -> None:
        entries = list(entries)
        if not entries:
            return
        try:
            self.log.append(entries)
        except Exception as error:  # the work is done; only its record is missing
            self._logger.warning("history_write_failed", entries=len(entries),
                                 error=f"{type(error).__name__}: {error}")

    def after_pass(self, desired: DesiredState, plan: Plan, outcomes: Iterable[Any],
                   previous: Mapping[str, ProfileRecord],
                   extra: Iterable[HistoryEntry] = ()) -> None:
        self.log.retention_days = desired.estate.history_retention_days
        now = self.clock.now()
        entries = list(extra)
        for outcome in outcomes:
            if outcome.outcome != "ok":
                continue
            if outcome.action in _PRUNED:
                entries.append(HistoryEntry(
                    now, "prune", desired.revision, self.region, "ok",
                    target=str(outcome.key), seconds=round(outcome.seconds, 3),
                    profile=outcome.key.name if outcome.key.kind == "UserProfile" else "",
                    message=f"{_PRUNED[outcome.action]} deleted ({outcome.message})"))
        for record in plan.records:
            before = previous.get(record.qualified_name)
            if before is None or before.incarnation == record.incarnation or (
                    record.recreated_from not in (DECLINED, GONE)):
                continue
            entries.append(HistoryEntry(
                now, "recreation", desired.revision, self.region,
                "declined" if record.recreated_from == DECLINED else "nothing to restore",
                source=f"{before.home_efs_id}:/{before.home_uid}",
                target=f"{record.home_efs_id}:/{record.home_uid}",
                profile=record.qualified_name,
                message=("restoreOnRecreate is false" if record.recreated_from == DECLINED
                         else "the old home no longer exists")))
        self.record(entries)
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRY_SECONDS
            try:
                self.log.remove_expired(now)
            except Exception as error:
                self._logger.warning("history_expiry_failed",
                                     error=f"{type(error).__name__}: {error}")
