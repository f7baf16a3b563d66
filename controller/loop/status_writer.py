"""Turn a pass's plan and outcomes into conditions, and keep them in the status store.

Conditions are set in this one place, at the end of a pass, for every resource the
region should hold: Ready (usable as desired), Synced (the last revision was applied to
it), Degraded (it is failing, not merely waiting).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from controller.clock import Clock
from controller.loop.replication_lag import initial_syncs, replication_lag
from controller.metrics import PRUNE_PENDING, REMOVAL_HELD, RESOURCES_READY
from controller.model import DesiredState
from controller.observed import ObservedState, RemovalHold
from controller.plan import Plan, ResourceKey
from controller.plan.keys import resource_keys
from controller.status import removal_hold
from controller.status.conditions import (
    DEGRADED,
    FALSE,
    READY,
    SYNCED,
    TRUE,
    UNKNOWN,
    Condition,
    set_condition,
)
from controller.status.store import DynamoStatusStore, ResourceStatus

_WAIT_STATES = ("Pending", "Updating")
_NOT_RUN = (Condition(READY, FALSE, "Pending", "planned; not run yet (the pass was cut short)"),
            Condition(SYNCED, FALSE, "Pending", "planned; not run yet"),
            Condition(DEGRADED, FALSE, "AsExpected"))


class StatusWriter:
    def __init__(self, store: DynamoStatusStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.current, self.revision = store.load()

    def record_pass(self, desired: DesiredState, plan: Plan, outcomes: Iterable,  # type: ignore[type-arg]
                    observed: ObservedState, only: set[ResourceKey] | None = None) -> None:
        """`only`: a targeted pass's keys, the only ones it looked at (the others keep
        what was recorded)."""
        now = self.clock.now()
        by_key: dict[ResourceKey, Any] = {}
        for o in outcomes:  # several actions on one resource: the one that did not go well
            if o.key not in by_key or by_key[o.key].outcome == "ok":
                by_key[o.key] = o
        not_run = {a.key for a in plan.actions} - set(by_key)
        lags = replication_lag(observed, now)
        syncing = initial_syncs(observed)
        problems = {key: p for p in plan.problems for key in [_problem_key(p)] if key}
        waiting = set(plan.waiting_file_systems)
        waits_for = dict(plan.waiting)  # "Domain/x" -> why it is not planned yet
        suspended: dict[ResourceKey, list[str]] = {}
        for action in plan.suspended:
            suspended.setdefault(action.key, []).append(action.name)
        changed: list[ResourceStatus] = []
        ready_counts: Counter[tuple[str, str]] = Counter()
        for key in resource_keys(desired, plan.region):
            if only is not None and key not in only:
                continue
            lag = lags.get(key.name) if key.kind == "FileSystem" else None
            threshold = (desired.file_systems[key.name].replication_lag_threshold_seconds
                         if lag is not None else 0)
            if key in suspended:
                message = (f"suspended: {len(suspended[key])} change(s) not made "
                           f"({', '.join(sorted(set(suspended[key])))}); observed and "
                           "reported only")
                ready, synced, degraded = (Condition(READY, FALSE, "Suspended", message),
                                           Condition(SYNCED, FALSE, "Suspended", message),
                                           Condition(DEGRADED, FALSE, "AsExpected"))
            elif key in not_run:
                ready, synced, degraded = _NOT_RUN
            elif key.kind == "Directory" and key.name.partition(":")[0] in waiting:
                message = (f"waits until {key.name.partition(':')[0]} is writable here "
                           "(promoted, taken over, not fenced)")
                ready, synced, degraded = (Condition(READY, FALSE, "Waiting", message),
                                           Condition(SYNCED, FALSE, "Waiting", message),
                                           Condition(DEGRADED, FALSE, "AsExpected"))
            elif key.kind == "FileSystem" and key.name in syncing:
                first = syncing[key.name]
                message = (f"replica {first.destination_file_system_id} in "
                           f"{first.destination_region} is on its first sync ({first.status}); "
                           "lag is measured once it has finished")
                ready, synced, degraded = (Condition(READY, FALSE, "InitialSync", message),
                                           Condition(SYNCED, TRUE, "Applied", message),
                                           Condition(DEGRADED, FALSE, "AsExpected"))
            elif str(key) in waits_for:
                message = f"waits: {waits_for[str(key)]}"
                ready, synced, degraded = (Condition(READY, FALSE, "Waiting", message),
                                           Condition(SYNCED, FALSE, "Waiting", message),
                                           Condition(DEGRADED, FALSE, "AsExpected"))
            elif lag is not None and lag > threshold:
                message = f"replica is {lag:.0f}s behind (threshold {threshold}s)"
                ready, synced, degraded = (Condition(READY, FALSE, "ReplicationLagging", message),
                                           Condition(SYNCED, TRUE, "Applied", message),
                                           Condition(DEGRADED, TRUE, "ReplicationLagging",
                                                     message))
            else:
                ready, synced, degraded = _conditions_for(key, by_key.get(key),
                                                          problems.get(str(key)), observed)
            previous = self.current.get(f"{key.kind}#{key.name}")
            outcome = by_key.get(key)
            unchanged = (outcome is None and ready.status == TRUE and _is_ready(previous)) or (
                outcome is not None and outcome.outcome == "backing_off")
            if unchanged and previous is not None and (
                    previous.observed_revision == desired.revision):
                # Nothing happened to it (or it is still waiting out an earlier failure):
                # keep what was recorded, with its reason, and write nothing.
                ready_counts[(key.kind, _ready_status(previous))] += 1
                continue
            conditions: tuple[Condition, ...] = previous.conditions if previous else ()
            for condition in (ready, synced, degraded):
                conditions = set_condition(conditions, condition, now)
            applied = desired.revision if synced.status == TRUE else (
                previous.last_applied_revision if previous else "")
            status = ResourceStatus(key.kind, key.name, key.region, conditions,
                                    desired.revision, applied,
                                    previous.created_at if previous else now)
            self.current[status.pk] = status
            changed.append(status)
            ready_counts[(key.kind, ready.status)] += 1
        self.store.put_many(changed)
        if only is not None:
            return  # the counts by kind are a full pass's to say
        RESOURCES_READY.clear()
        for (kind, ready_status), count in ready_counts.items():
            RESOURCES_READY.labels(kind, ready_status).set(count)

    def managed_keys(self, region: str) -> frozenset[str]:
        """"Kind/name" of every resource this region's status records hold: what the
        operator managed under this or an earlier revision."""
        return frozenset(f"{s.kind}/{s.name}" for s in self.current.values()
                         if s.region == region)

    def removal_hold(self) -> RemovalHold | None:
        found = self.store.items_with_prefix(removal_hold.PK)
        return removal_hold.from_item(found[0] if found else None)

    def record_removals(self, desired: DesiredState, plan: Plan,
                        observed: ObservedState) -> list[str]:
        """The removal guard's record, and the status of what left the desired state: with
        prune off it says so (left as it is); once pruned and gone, its record goes.
        Returns the profiles ("domain/profile") found gone."""
        gone: list[str] = []
        check = plan.removal
        REMOVAL_HELD.set(1 if check is not None and check.held else 0)
        PRUNE_PENDING.set(len(check.keys) if check is not None else 0)
        held = self.removal_hold()
        wanted = check.record if check is not None else None
        if wanted is not None and wanted != held:
            self.store.put_item(removal_hold.to_item(wanted))
        elif wanted is None and held is not None and check is not None and not check.keys:
            self.store.delete_item(removal_hold.PK)
        removals = observed.removals
        if removals is None:
            return gone
        present = {f"UserProfile/{q}" for q, p in removals.profiles.items() if p.status
                   or q in observed.unmanaged_profiles} | {
            f"Domain/{n}" for n in removals.domains}
        current = {f"{k.kind}/{k.name}" for k in resource_keys(desired, plan.region)}
        now = self.clock.now()
        for pk, status in list(self.current.items()):
            key = f"{status.kind}/{status.name}"
            if status.region != plan.region or key in current or status.kind not in (
                    "UserProfile", "Domain"):
                continue
            if desired.estate.prune and _gone(status, present, observed):
                # Pruned and gone: the operator manages it no more, so a profile of that
                # name made later is not taken for its own. (With prune off, profiles of a
                # removed domain are not listed: their records are kept, not judged.)
                self.store.delete_item(pk)
                del self.current[pk]
                if status.kind == "UserProfile":
                    gone.append(status.name)
                continue
            message = ("no longer in the desired state; " + (
                "being pruned" if desired.estate.prune else
                "prune is off, so it is left as it is"))
            condition = Condition(READY, UNKNOWN, "RemovedFromDesiredState", message)
            conditions = set_condition(status.conditions, condition, now)
            conditions = set_condition(conditions, Condition(
                SYNCED, FALSE, "RemovedFromDesiredState", message), now)
            updated = replace(status, conditions=conditions,
                              observed_revision=desired.revision)
            if updated != status:
                self.current[pk] = updated
                self.store.put(updated)
        return gone

    def all_ready(self, desired: DesiredState, region: str) -> bool:
        """Every Studio resource of the region is Ready (what a failover waits for:
        notebook instances do not fail over, so they do not hold one up)."""
        keys = [k for k in resource_keys(desired, region) if k.kind != "NotebookInstance"]
        return all(_is_ready(self.current.get(f"{k.kind}#{k.name}")) for k in keys)


def _gone(status: ResourceStatus, present: set[str], observed: ObservedState) -> bool:
    """Whether a resource no longer in the desired state is gone from the region, as far
    as this pass looked (a profile: in a domain it listed, or in a domain that is gone)."""
    key = f"{status.kind}/{status.name}"
    if key in present:
        return False
    if status.kind == "Domain":
        return True
    removals = observed.removals
    domain = status.name.split("/", 1)[0]
    listed = domain in observed.domains or (removals is not None and any(
        d.name == domain and d.domain_id in removals.spaces
        for d in removals.domains.values()))
    gone_domain = domain not in observed.domains and (
        removals is None or domain not in removals.domains)
    return listed or gone_domain


def _ready_status(status: ResourceStatus) -> str:
    return next((c.status for c in status.conditions if c.type == READY), "Unknown")


def _is_ready(status: ResourceStatus | None) -> bool:
    return status is not None and any(c.type == READY and c.status == TRUE
                                      for c in status.conditions)


def _problem_key(problem: str) -> str | None:
    head, sep, _ = problem.partition(": ")
    return head if sep else None


def _conditions_for(key: ResourceKey, outcome, problem: str | None,  # type: ignore[no-untyped-def]
                    observed: ObservedState) -> tuple[Condition, Condition, Condition]:
    if problem is not None:
        return (Condition(READY, FALSE, "Blocked", problem),
                Condition(SYNCED, FALSE, "Blocked", problem),
                Condition(DEGRADED, TRUE, "Blocked", problem))
    if outcome is None or outcome.outcome == "ok":
        message = outcome.message if outcome else "matches the desired state"
        waiting = _aws_still_working(key, observed)
        if waiting:
            return (Condition(READY, FALSE, waiting, f"AWS reports {waiting}"),
                    Condition(SYNCED, TRUE, "Applied", message),
                    Condition(DEGRADED, FALSE, "AsExpected"))
        reason = "Applied" if outcome else "InSync"
        return (Condition(READY, TRUE, reason, message),
                Condition(SYNCED, TRUE, reason, message),
                Condition(DEGRADED, FALSE, "AsExpected"))
    if outcome.outcome in ("waiting", "backing_off"):
        return (Condition(READY, FALSE, "Waiting", outcome.message),
                Condition(SYNCED, FALSE, "Waiting", outcome.message),
                Condition(DEGRADED, FALSE, "AsExpected"))
    reason = "TerminalError" if outcome.outcome == "terminal" else "RetryingAfterError"
    return (Condition(READY, FALSE, reason, outcome.message),
            Condition(SYNCED, FALSE, reason, outcome.message),
            Condition(DEGRADED, TRUE, reason, outcome.message))


def _aws_still_working(key: ResourceKey, observed: ObservedState) -> str | None:
    if key.kind == "Domain" and key.name in observed.domains:
        status = observed.domains[key.name].status
        return status if status in _WAIT_STATES else None
    if key.kind == "UserProfile" and key.name in observed.profiles:
        status = observed.profiles[key.name].status
        return status if status in _WAIT_STATES else None
    notebook = observed.notebooks.get(key.name) if key.kind == "NotebookInstance" else None
    if notebook is not None and notebook.instance is not None and notebook.instance.busy:
        return notebook.instance.status
    return None
