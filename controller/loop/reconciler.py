"""One reconcile pass for a region: observe, plan, execute, record.

Level-triggered: every pass starts from a fresh snapshot, so a pass that was cut short
(a crash, SIGTERM) is simply finished by the next one. Independent actions of a pass run
at once on a bounded pool of workers (controller.loop.action_pool, in the order
controller.plan.ordering gives). Each action's outcome is handled in one place
(`_run_action`, on whichever worker ran it): success forgets the key's backoff; an
expected wait requeues it quietly; a terminal error parks it until the desired state
changes (no hot loop); anything else backs off exponentially. One resource's failure
never stops the others, except the profiles of a domain that is not there yet, which
wait for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.actions.classify import is_expected_failure
from controller.actions.context import ExecutionContext
from controller.actions.final_snapshot import final_phases, final_uploads
from controller.actions.registry import execute
from controller.clock import Clock
from controller.errors import LeaseLost, RequeueAfter, TerminalError
from controller.events.keys import EventKey
from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.loop.action_pool import DEFAULT_WORKERS, ActionPool
from controller.loop.describe_seeds import DescribeSeeds
from controller.loop.failover import FailoverTracker
from controller.loop.history_recorder import HistoryRecorder
from controller.loop.notebook_migration import NotebookMigrationTracker
from controller.loop.reachability import RegionReachability
from controller.loop.replication_lag import LagReporter
from controller.loop.status_writer import StatusWriter
from controller.loop.targeted import targeted_plan
from controller.loop.user_table import UserTable
from controller.loop.workqueue import WorkQueue
from controller.metrics import (
    ACTIONS,
    DRIFTED,
    EVENT_PASSES,
    PASS_DURATION,
    PASSES,
    SUSPENDED_ACTIONS,
)
from controller.model import DesiredState
from controller.movers import Mover
from controller.movers.choose import Taker
from controller.observe import observe
from controller.observe.cache import DescribeCache
from controller.observe.old_homes import reached_by_workers
from controller.observed import ObservedState
from controller.plan import Action, Kind, Plan, ResourceKey, make_plan
from controller.plan.types import TAKES_OVER, TAKING_OVER
from controller.snapshots.runner import SnapshotRunner
from controller.status.history import HistoryLog
from controller.status.store import DEFAULT_TABLE

# A terminal failure is looked at again only this rarely (or when the revision changes).
TERMINAL_RECHECK_SECONDS = 3600.0

OK, WAITING, TERMINAL, ERROR, BACKING_OFF = "ok", "waiting", "terminal", "error", "backing_off"


@dataclass(frozen=True)
class ActionOutcome:
    key: ResourceKey
    action: str
    outcome: str
    message: str
    seconds: float


@dataclass
class PassResult:
    plan: Plan
    outcomes: list[ActionOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def result(self) -> str:
        if not self.plan.actions:
            return "converged"
        done = not self.interrupted and all(o.outcome == OK for o in self.outcomes)
        return "applied" if done else "partial"


class Reconciler:
    def __init__(self, gateway: AwsGateway, region: str, efs_root: Path | None,
                 queue: WorkQueue, clock: Clock, status: StatusWriter | None = None,
                 full_refresh_seconds: float = 3600.0,
                 max_concurrent_actions: int = DEFAULT_WORKERS) -> None:
        self.gateway = gateway
        self.region = region
        self.efs_root = efs_root
        self.queue = queue
        self.clock = clock
        self.status = status
        # Describes are reused while LastModifiedTime holds, for at most this long.
        self.cache = DescribeCache(clock, full_refresh_seconds)
        # What a restarted controller needs to skip them, kept in the status store.
        self.seeds = DescribeSeeds(status.store, region, self.cache, clock) if status else None
        if self.seeds is not None:
            self.seeds.load()
        self.history = (HistoryRecorder(HistoryLog(status.store), region, clock)
                        if status else None)
        self.failover = (FailoverTracker(status.store, region, clock, self.history.record)
                         if status and self.history else None)
        self.users = UserTable(status.store) if status else None
        self.migrations = (NotebookMigrationTracker(status.store, region, clock,
                                                    self.history.record)
                           if status and self.history else None)
        # Whether the other region is down, from this controller's passes (it decides how
        # a replica is promoted: controller.loop.reachability).
        self.reachability = RegionReachability(clock)
        self.lag = LagReporter(region)
        # Snapshot and restore jobs run on these workers, never inside a pass.
        self.snapshots = (SnapshotRunner(gateway, region, efs_root, status.store, clock)
                          if status else None)
        self.log = get_logger(region=region)
        # At most this many actions of a pass at once (1: one after the other).
        self.pool = ActionPool(max_concurrent_actions, name=f"actions-{region}")
        # key -> revision it failed under; written by workers, one key each (never two
        # workers on one key), read between passes.
        self._terminal: dict[ResourceKey, str] = {}
        # When the controller first saw each revision (a failover's recovery time starts
        # at the commit being seen, not at the pass that follows).
        self.revision_seen_at: dict[str, float] = {}
        # Called before each action when replicas elect a leader (raises LeaseLost).
        self.lease_check: Callable[[], None] | None = None
        # Runs data moves whose file systems are not mounted here (controller.movers).
        self.worker_mover: Mover | None = None
        # DataSync for the bulk copies its configuration lists (controller.movers.datasync).
        self.datasync_mover: Taker | None = None
        # Checked before each action starts: a stopping controller finishes what is in
        # flight and starts nothing more.
        self.should_stop: Callable[[], bool] = lambda: False
        # The last full pass's observation, and its revision: what a targeted pass (for
        # what events named) lays its fresh reads over.
        self.last_observed: ObservedState | None = None
        self.last_revision = ""

    def reconcile(self, desired: DesiredState) -> PassResult:
        started = time.monotonic()
        self._release_terminal_keys(desired.revision)
        observed = observe(self.gateway, desired, self.region, self.efs_root, self.cache,
                           now=self.clock.now(),
                           status_table=self.status.store.table if self.status else DEFAULT_TABLE,
                           managed_keys=self.status.managed_keys(self.region)
                           if self.status else None,
                           profile_records=self.users.records if self.users else None,
                           notebook_migrations=self.migrations.records
                           if self.migrations else None)
        observed = self._with_reachability(desired, observed)
        if self.worker_mover is not None:  # an old home not mounted here: a worker's job
            observed = replace(observed, recreated_homes=reached_by_workers(
                observed.recreated_homes))
        if self.status is not None:
            observed = replace(observed, removal_hold=self.status.removal_hold())
        if self.snapshots is not None and desired.estate.active_region == self.region:
            observed = replace(observed, snapshots=self.snapshots.observe(desired))
        if self.snapshots is not None and observed.removals is not None:
            pruned = {q: r.created for q, r in observed.profile_records.items()
                      if q in observed.removals.profiles}
            observed = replace(observed, final_snapshots=final_phases(self.snapshots, pruned))
            if observed.snapshots is not None:  # adopted workers' uploads are not aborted
                observed = replace(observed, snapshots=replace(
                    observed.snapshots, adopting_keys=final_uploads(self.snapshots, pruned)))
        plan = make_plan(desired, observed)
        if self.failover is not None:
            self.failover.on_plan(desired, plan,
                                  self.revision_seen_at.get(desired.revision))
        if self.migrations is not None:
            self.migrations.on_plan(plan)  # each step's record before its action
        result, ctx = self._execute(desired, observed, plan, started)
        for kind in Kind:
            DRIFTED.labels(kind.value).set(sum(1 for a in plan.actions if a.key.kind == kind))
            SUSPENDED_ACTIONS.labels(kind.value).set(
                sum(1 for a in plan.suspended if a.key.kind == kind))
        PASSES.labels(result.result).inc()
        PASS_DURATION.observe(result.seconds)
        self.lag.report(observed, self.clock.now())
        if self.status is not None:
            self.status.record_pass(desired, plan, result.outcomes, observed)
            for gone in self.status.record_removals(desired, plan, observed):
                if self.users is not None:
                    self.users.forget(gone)
        self._keep_records(desired, plan, result, ctx)
        if self.failover is not None and self.status is not None:
            promoting = any(a.name in TAKING_OVER for a in plan.actions) and not any(
                o.action in TAKES_OVER and o.outcome == OK for o in result.outcomes)
            # Complete only after a pass found nothing left to do: what this pass made
            # (a profile still Pending, say) is Ready once a later pass has seen it so,
            # and only then could a user's app start.
            self.failover.after_pass(promoting, bool(plan.actions) or bool(plan.problems),
                                     self.status.all_ready(desired, self.region), desired)
            self.failover.after_standby_pass(desired, plan, observed)
        if self.seeds is not None:  # last: the records above are what a failover waits for
            self.seeds.after_pass(observed)
        self.last_observed, self.last_revision = observed, desired.revision
        self._log_pass(desired, result)
        return result

    def reconcile_keys(self, desired: DesiredState, keys: list[EventKey]) -> PassResult:
        """A pass for what events named: only those profiles, afresh (loop.targeted); a
        full pass when the events name anything else."""
        started = time.monotonic()
        found = targeted_plan(self, desired, keys)
        if found is None:
            EVENT_PASSES.labels("full").inc()
            return self.reconcile(desired)
        EVENT_PASSES.labels("targeted").inc()
        observed, plan = found
        result, ctx = self._execute(desired, observed, plan, started)
        if self.status is not None:
            self.status.record_pass(desired, plan, result.outcomes, observed,
                                    only={a.key for a in (*plan.actions, *plan.suspended)})
        self._keep_records(desired, plan, result, ctx)
        self._log_pass(desired, result, targeted=[str(k) for k in keys])
        return result

    def _execute(self, desired: DesiredState, observed: ObservedState, plan: Plan,
                 started: float) -> tuple[PassResult, ExecutionContext]:
        ctx = ExecutionContext(
            self.gateway, self.region, self.efs_root, desired.revision,
            domain_status={name: d.status for name, d in observed.domains.items()},
            started_at=observed.observed_at, desired=desired, snapshots=self.snapshots,
            describes=self.cache, worker_mover=self.worker_mover,
            datasync_mover=self.datasync_mover)
        result = PassResult(plan)
        promotions = sum(1 for action in plan.actions if action.name in TAKES_OVER)

        def may_start() -> bool:
            if self.should_stop():
                return False
            if self.lease_check is not None:
                self.lease_check()  # LeaseLost: another replica may act now; stop here
            return True

        def finished(action: Action, outcome: ActionOutcome) -> None:
            nonlocal promotions
            if action.name in TAKES_OVER and outcome.outcome == OK:
                promotions -= 1
                if promotions == 0 and self.failover is not None:
                    # Recorded before the next phase's first step starts (ordering.py:
                    # every later kind waits for the takeover's kinds to finish).
                    self.failover.promoted()

        execution = self.pool.run(
            plan.actions, lambda action: self._run_action(action, ctx, desired.revision),
            may_start, finished)
        result.outcomes = [o for o in execution.outcomes if o is not None]
        result.interrupted = execution.interrupted
        result.warnings = list(dict.fromkeys(ctx.warnings))
        result.seconds = time.monotonic() - started
        return result, ctx

    def _keep_records(self, desired: DesiredState, plan: Plan, result: PassResult,
                      ctx: ExecutionContext) -> None:
        """The history, then the user table (the history compares with its old records)."""
        if self.history is not None and self.users is not None:
            self.history.after_pass(desired, plan, result.outcomes, dict(self.users.records),
                                    ctx.history)
        if self.users is not None:
            self.users.after_pass(plan, result.outcomes)

    def _log_pass(self, desired: DesiredState, result: PassResult, **extra: object) -> None:
        self.log.info("pass", revision=desired.revision, result=result.result,
                      actions=len(result.plan.actions), problems=len(result.plan.problems),
                      interrupted=result.interrupted,
                      duration_s=round(result.seconds, 3), **extra)
        for warning in result.warnings:
            self.log.warning("partly_applied", message=warning)

    def _with_reachability(self, desired: DesiredState, observed: ObservedState) -> ObservedState:
        other = next(r for r in desired.estate.regions if r != self.region)
        was = self.reachability.unreachable()
        self.reachability.record(other, observed.references.remote_read)
        now = self.reachability.unreachable()
        if other in now - was:
            self.log.warning("region_unreachable", other_region=other,
                             since=self.reachability.down_since(other),
                             message="a replica of it is promoted with "
                                     "LOCAL_CONFIGURATION_ONLY; it deletes its side on return")
        elif other in was - now:
            self.log.info("region_reachable", other_region=other)
        return replace(observed, unreachable_regions=now)

    def _run_action(self, action: Action, ctx: ExecutionContext, revision: str) -> ActionOutcome:
        key = action.key
        if self.queue.waiting(key):
            return ActionOutcome(key, action.name, BACKING_OFF, "backing off", 0.0)
        started = time.monotonic()
        unexpected: BaseException | None = None
        try:
            message = execute(action, ctx)
            outcome = OK
            self.queue.forget(key)
        except RequeueAfter as wait:
            outcome, message = WAITING, wait.reason
            self.queue.add_after(key, wait.seconds)
        except TerminalError as error:
            outcome, message = TERMINAL, f"{error.reason}: {error}"
            self._terminal[key] = revision
            self.queue.add_after(key, TERMINAL_RECHECK_SECONDS)
        except LeaseLost:
            raise
        except Exception as error:  # retryable: throttling, 5xx, timeouts, I/O
            outcome, message = ERROR, f"{type(error).__name__}: {error}"
            unexpected = None if is_expected_failure(error) else error
            delay = self.queue.add_rate_limited(key)
            message += f" (retry in {delay:.1f}s)"
        seconds = time.monotonic() - started
        ACTIONS.labels(key.kind, action.name, outcome).inc()
        log = self.log.info if outcome in (OK, WAITING) else self.log.warning
        log("action", resource=str(key), action=action.name, revision=revision,
            outcome=outcome, message=message, duration_s=round(seconds, 3),
            **({"exc_info": unexpected} if unexpected is not None else {}))
        return ActionOutcome(key, action.name, outcome, message, seconds)

    def _release_terminal_keys(self, revision: str) -> None:
        """A new revision may have fixed what AWS refused: look at those keys again."""
        for key, failed_under in list(self._terminal.items()):
            if failed_under != revision:
                del self._terminal[key]
                self.queue.add(key)  # due now, so no longer waiting
