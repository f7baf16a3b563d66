"""Running one pass's actions on a bounded pool of workers, in dependency order.

Like controller-runtime's MaxConcurrentReconciles: at most `workers` actions run at
once, each when what it depends on has finished (controller.plan.ordering), the earliest
in the plan first. With one worker the actions run in the calling thread, in plan order,
exactly as a pass did before there was a pool.

Before starting each action the dispatcher (the reconciler's thread) asks `may_start`:
False (the controller is stopping) or LeaseLost (another replica may act now) starts
nothing more; what is in flight finishes, and then the pass ends (LeaseLost is raised
again). Everything the outcome of an action leads to is handled by the caller's
`run_one` (the reconciler's one place for it) and `on_finished`, which runs in the
dispatcher's thread, before anything that depends on the action starts. This module
must not decide what an outcome means.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

from controller.plan.ordering import prerequisites, stage_of
from controller.plan.types import KIND_ORDER, Action

T = TypeVar("T")
DEFAULT_WORKERS = 8


@dataclass
class Execution(Generic[T]):
    # Each action's outcome by its place in the plan; None: never started.
    outcomes: list[T | None]
    interrupted: bool = False  # told to stop (or the lease lost) with actions not started


class ActionPool:
    def __init__(self, workers: int = DEFAULT_WORKERS, name: str = "actions") -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self.name = name

    def run(self, actions: Sequence[Action], run_one: Callable[[Action], T],
            may_start: Callable[[], bool],
            on_finished: Callable[[Action, T], None] = lambda action, outcome: None,
            ) -> Execution[T]:
        schedule = _Schedule(actions)
        execution: Execution[T] = Execution([None] * len(actions))
        failure: BaseException | None = None
        pool = ThreadPoolExecutor(self.workers, self.name) if self.workers > 1 else None
        in_flight: dict[Future[T], int] = {}
        try:
            while True:
                while (failure is None and not execution.interrupted
                       and len(in_flight) < self.workers):
                    index = schedule.next_ready()
                    if index is None:
                        break
                    try:
                        if not may_start():
                            execution.interrupted = True
                            break
                    except BaseException as lost:  # LeaseLost: start nothing more
                        failure = lost
                        execution.interrupted = True
                        break
                    schedule.started(index)
                    in_flight[_submit(pool, run_one, actions[index])] = index
                if execution.interrupted or failure is not None:
                    if not in_flight:
                        break
                elif not in_flight:
                    if schedule.done():
                        break
                    schedule.unblock()  # cannot happen with an ordered plan; never hang
                    continue
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=in_flight.__getitem__):
                    index = in_flight.pop(future)
                    raised = future.exception()
                    if raised is not None:
                        failure = failure or raised
                        execution.interrupted = True
                        schedule.finished(index)
                        continue
                    outcome = future.result()
                    execution.outcomes[index] = outcome
                    on_finished(actions[index], outcome)
                    schedule.finished(index)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        if failure is not None:
            raise failure
        execution.interrupted = execution.interrupted and not schedule.done()
        return execution


def _submit(pool: ThreadPoolExecutor | None, run_one: Callable[[Action], T],
            action: Action) -> Future[T]:
    if pool is not None:
        return pool.submit(run_one, action)
    done: Future[T] = Future()  # one worker: in this thread, now
    try:
        done.set_result(run_one(action))
    except BaseException as error:
        done.set_exception(error)
    return done


class _Schedule:
    """Which actions may start: those whose prerequisites have all finished."""

    def __init__(self, actions: Sequence[Action]) -> None:
        needs = prerequisites(actions)
        self._stage = [p.stage for p in needs]
        self._kind = [stage_of(a) for a in actions]
        self._remaining = [len(p.actions) for p in needs]
        self._dependents: list[list[int]] = [[] for _ in actions]
        for index, prerequisite in enumerate(needs):
            for earlier in prerequisite.actions:
                self._dependents[earlier].append(index)
        self._unfinished = Counter(self._kind)
        self._open = self._first_open()
        self._parked: dict[int, list[int]] = {}
        self._ready: list[int] = []
        self._not_started = set(range(len(actions)))
        for index, count in enumerate(self._remaining):
            if count == 0:
                self._admit(index)

    def next_ready(self) -> int | None:
        while self._ready and self._ready[0] not in self._not_started:
            heapq.heappop(self._ready)  # started already (after an unblock)
        return self._ready[0] if self._ready else None

    def started(self, index: int) -> None:
        heapq.heappop(self._ready)
        self._not_started.discard(index)

    def finished(self, index: int) -> None:
        self._unfinished[self._kind[index]] -= 1
        for later in self._dependents[index]:
            self._remaining[later] -= 1
            if self._remaining[later] == 0:
                self._admit(later)
        opened = self._first_open()
        for stage in range(self._open + 1, opened + 1):
            for parked in self._parked.pop(stage, []):
                heapq.heappush(self._ready, parked)
        self._open = opened

    def done(self) -> bool:
        return not self._not_started

    def unblock(self) -> None:
        """Start the earliest action not started, whatever it waits for."""
        earliest = min(self._not_started)
        for parked in self._parked.values():
            if earliest in parked:
                parked.remove(earliest)
        heapq.heappush(self._ready, earliest)

    def _admit(self, index: int) -> None:
        if index not in self._not_started:
            return
        if self._stage[index] <= self._open:
            heapq.heappush(self._ready, index)
        else:
            self._parked.setdefault(self._stage[index], []).append(index)

    def _first_open(self) -> int:
        """The first stage with an action not finished (every earlier one is done)."""
        return next((stage for stage in range(len(KIND_ORDER)) if self._unfinished[stage]),
                    len(KIND_ORDER))
