"""The long-running controller: follow the source, reconcile, requeue, until told to stop.

Each tick: fetch the source (at most every poll interval); validate a new revision,
refusing an invalid one whole and keeping the last good one in force; run a pass when the
periodic resync is due, a new revision arrived, or a key's backoff has run out. Time
comes from an injected Clock. stop() lets the actions in flight finish, starts no new
one, then returns.

The leader also runs the preflight (would a failover work now?) when its own interval is
due, after the pass. With a lease, only the holder runs passes. A replica standing by
behind another holder tries the lease again only every third of its duration (not on
every turn of the loop) and reports itself ready: standing by is its job, not a fault.
A replica that loses the lease cancels its snapshot and restore jobs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from controller.clock import Clock
from controller.desired import load_desired_state
from controller.errors import DesiredStateError, LeaseLost
from controller.events.keys import EventKey
from controller.events.listener import EventInbox
from controller.logs import get_logger
from controller.loop.lease import Lease
from controller.loop.reconciler import PassResult, Reconciler
from controller.metrics import LAST_SUCCESS, LEADER, PASSES, REVISION, REVISION_VALID, ROLE
from controller.model import DesiredState
from controller.source import Source, SourceError
from controller.status.store import RevisionStatus


@dataclass(frozen=True)
class Timing:
    resync_seconds: float = 300.0
    poll_seconds: float = 30.0
    # After a pass that changed something, look again this soon: a step that builds on
    # it (fence, then save, then open for failback) is planned from what it changed.
    follow_up_seconds: float = 5.0


class Controller:
    def __init__(self, source: Source, reconciler: Reconciler, clock: Clock,
                 timing: Timing = Timing(),
                 on_pass: Callable[[PassResult], None] | None = None,
                 lease: Lease | None = None,
                 on_standby: Callable[[], None] | None = None,
                 preflight: Callable[[DesiredState], object] | None = None,
                 events: EventInbox | None = None) -> None:
        self.source = source
        self.reconciler = reconciler
        self.clock = clock
        self.timing = timing
        self.on_pass = on_pass
        self.on_standby = on_standby
        # The leader's periodic failover readiness check (controller.preflight.schedule).
        self.preflight = preflight
        self.stopping = threading.Event()
        # Keys of changes made outside git (controller.events): a targeted pass soon after
        # each, the periodic resync as the floor. Putting one wakes the loop.
        self.events = events
        self._wake = events.wake if events is not None else threading.Event()
        self.desired: DesiredState | None = None
        self.revision_status = RevisionStatus()
        self.log = get_logger(region=reconciler.region)
        self._next_pass = 0.0
        self._revision_saved = True  # nothing to record yet
        self._next_poll = 0.0
        self._last_fetched: tuple[str | None, str] | None = None
        if reconciler.status is not None:
            self.revision_status = reconciler.status.revision
        reconciler.should_stop = self.stopping.is_set
        self.lease = lease
        self._next_lease_attempt = 0.0
        if lease is not None:
            reconciler.lease_check = lease.check
        else:
            LEADER.set(1)  # no election: this replica is the one that acts

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def tick(self) -> PassResult | None:
        """One turn of the loop; returns the pass it ran, if any."""
        now = self.clock.monotonic()
        changed = False
        if now >= self._next_poll:
            changed = self._poll()
            self._next_poll = now + self.timing.poll_seconds
        self._save_revision()
        backoff_due = bool(self.reconciler.queue.pop_ready())
        if self.desired is None or self.stopping.is_set():
            return None
        if not self._leading():
            self._cancel_jobs()  # another replica may act now: our jobs must not
            return None
        keys = self.events.drain() if self.events is not None else []
        result = self._pass_if_due(now, changed or backoff_due, keys)
        if self.preflight is not None and not self.stopping.is_set():
            self.preflight(self.desired)  # reads only; runs when its own interval is due
        return result

    def _pass_if_due(self, now: float, wanted: bool, keys: list[EventKey]) -> PassResult | None:
        assert self.desired is not None
        full = wanted or now >= self._next_pass
        if not full and not keys:
            return None
        try:
            if not full:
                return self._targeted(keys)
            result = self.reconciler.reconcile(self.desired)
        except LeaseLost as lost:
            self.log.warning("lease_lost", message=str(lost))
            self._cancel_jobs()
            return None
        except Exception as error:  # a failed pass: the next one starts from scratch
            PASSES.labels("error").inc()
            self.log.error("pass_failed", error=f"{type(error).__name__}: {error}",
                           exc_info=True)
            self._next_pass = now + min(30.0, self.timing.resync_seconds)
            return None
        LAST_SUCCESS.set(self.clock.now())
        changed_something = any(o.outcome == "ok" for o in result.outcomes)
        wait = (min(self.timing.follow_up_seconds, self.timing.resync_seconds)
                if changed_something else self.timing.resync_seconds)
        self._next_pass = self.clock.monotonic() + wait
        if self.on_pass is not None:
            self.on_pass(result)
        return result

    def seconds_to_full_pass(self) -> float:
        """Seconds until the next full pass is due (a resync away after a pass that
        changed nothing; a follow-up away after one that changed something)."""
        return self._next_pass - self.clock.monotonic()

    def _targeted(self, keys: list[EventKey]) -> PassResult | None:
        """A pass for what events named; it does not move the next full pass (the
        operator's own changes come back as events too: a follow-up full pass for each
        would undo what events save)."""
        assert self.desired is not None
        result = self.reconciler.reconcile_keys(self.desired, keys)
        LAST_SUCCESS.set(self.clock.now())
        if self.on_pass is not None:
            self.on_pass(result)
        return result

    def run(self) -> None:
        while not self.stopping.is_set():
            self.tick()
            if self.stopping.is_set():
                break
            self.clock.sleep(self._seconds_to_next_event(), self._wake)
            if not self.stopping.is_set():
                self._wake.clear()
        if self.reconciler.snapshots is not None:
            self.reconciler.snapshots.stop()  # cancels jobs: their uploads are aborted
        if self.lease is not None:
            self.lease.release()
        self.log.info("stopped")

    def _cancel_jobs(self) -> None:
        """Snapshot and restore jobs stop when this replica stops leading: they abort their
        uploads and leave the records to the new leader (controller.snapshots.runner)."""
        if self.reconciler.snapshots is not None:
            self.reconciler.snapshots.cancel_running()

    def _leading(self) -> bool:
        """Without a lease, always; with one, while it is held (taken or renewed here).
        Standing by, the lease is tried again only when the last try is a retry interval
        old: every try is a DynamoDB write and read, per standby replica."""
        if self.lease is None:
            return True
        if self.lease.held and self.lease.seconds_to_renewal() > 0:
            return True
        now = self.clock.monotonic()
        if now < self._next_lease_attempt:
            return self.lease.held
        try:
            leading = self.lease.hold()
        except Exception as error:  # the table unreachable: lead only while still safe
            self.log.warning("lease_unavailable", error=f"{type(error).__name__}: {error}")
            # Holding it, try again soon enough to renew before the safety margin.
            self._next_lease_attempt = now + (self.lease.renewal_retry_seconds
                                              if self.lease.held else self.lease.retry_seconds)
            return self.lease.held
        self._next_lease_attempt = 0.0 if leading else now + self.lease.retry_seconds
        if not leading and self.on_standby is not None:
            self.on_standby()
        return leading

    def _seconds_to_next_event(self) -> float:
        now = self.clock.monotonic()
        if self.events is not None and len(self.events):
            return 0.0
        candidates = [self._next_poll - now]
        if self.lease is not None and not self.lease.held:
            # Standing by: nothing to run until the lease is tried again.
            candidates.append(self._next_lease_attempt - now)
        else:
            candidates.append(self._next_pass - now)
            due = self.reconciler.queue.next_due_in()
            if due is not None:
                candidates.append(due)
            if self.lease is not None:
                candidates.append(max(self.lease.seconds_to_renewal(),
                                      self._next_lease_attempt - now))
        return max(0.05, min(candidates))

    def _poll(self) -> bool:
        """Fetch and validate; True when a new valid revision is now in force."""
        try:
            fetched = self.source.fetch()
        except SourceError as error:
            self.log.warning("source_unavailable", source=self.source.description, error=str(error))
            return False
        if fetched.revision is not None and (
                (self.desired is not None and fetched.revision == self.desired.revision)
                or self._last_fetched == (fetched.revision, "invalid")):
            return False  # nothing new: not worth validating the whole estate again
        try:
            desired = load_desired_state(fetched.path, revision=fetched.revision)
        except DesiredStateError as error:
            seen = fetched.revision or "unknown"
            if self._last_fetched == (fetched.revision, "invalid"):
                return False
            self._last_fetched = (fetched.revision, "invalid")
            self._record_revision(seen, valid=False, problems=[str(p) for p in error.problems])
            self.log.error("revision_refused", revision=seen, problems=len(error.problems),
                           first=str(error.problems[0]) if error.problems else "",
                           keeping=self.desired.revision if self.desired else None)
            return False
        if self.desired is not None and desired.revision == self.desired.revision:
            return False
        self._last_fetched = (desired.revision, "valid")
        self.reconciler.revision_seen_at = {desired.revision: self.clock.now()}
        self.log.info("revision_accepted", revision=desired.revision,
                      previous=self.desired.revision if self.desired else None)
        self.desired = desired
        self._record_revision(desired.revision, valid=True, problems=[])
        ROLE.labels(self.reconciler.region).set(
            1 if desired.estate.active_region == self.reconciler.region else 0)
        return True

    def _record_revision(self, seen: str, valid: bool, problems: list[str]) -> None:
        last_good = self.desired.revision if self.desired else ""
        if valid:
            last_good = seen
        self.revision_status = RevisionStatus(
            seen, valid, last_good,
            "" if valid else f"revision {seen} refused: {len(problems)} problem(s)",
            tuple(problems[:50]))
        REVISION_VALID.set(1 if valid else 0)
        REVISION.info({"revision": last_good, "seen": seen})
        self._revision_saved = False
        self._save_revision()

    def _save_revision(self) -> None:
        """Record the revision in the status store; a failed write (the table throttled,
        unreachable) is tried again next tick, never fatal to the controller."""
        if self._revision_saved or self.reconciler.status is None:
            return
        try:
            self.reconciler.status.store.put_revision(self.revision_status)
            self._revision_saved = True
        except Exception as error:
            self.log.warning("status_write_failed", what="revision",
                             error=f"{type(error).__name__}: {error}")
