"""The pool that runs a pass's actions: bounded, in dependency order, one resource never
in two workers, and stopping (SIGTERM, a lost lease) starts nothing new while what is in
flight finishes."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import pytest

from controller.errors import LeaseLost
from controller.loop.action_pool import ActionPool
from controller.plan.ordering import prerequisites, stage_of
from controller.plan.types import Action, Kind, Ref, ResourceKey, Verb

REGION = "us-east-1"


def action(name: str, kind: Kind, key: str, params: dict | None = None) -> Action:
    return Action(name, Verb.CREATE, ResourceKey(kind, REGION, key), (), params or {})


def failover_plan(profiles_per_domain: int = 6) -> list[Action]:
    """A plan shaped like a failover's: mount targets, a promotion, directories, two
    domains, their profiles, and two actions on one home."""
    plan = [action("CreateMountTarget", Kind.MOUNT_TARGET, f"efs/subnet-{z}") for z in "abc"]
    plan.append(action("PromoteReplica", Kind.REPLICATION, "efs"))
    plan += [action("CreateDirectory", Kind.DIRECTORY, f"efs:/home/{n}") for n in range(4)]
    plan.append(action("SetDirectoryOwnership", Kind.DIRECTORY, "efs:/home/0"))
    plan += [action("CreateDomain", Kind.DOMAIN, d) for d in ("analytics", "research")]
    plan += [action("CreateUserProfile", Kind.USER_PROFILE, f"{d}/user-{n}",
                    {"DomainId": Ref(Kind.DOMAIN, d, "DomainId")})
             for d in ("analytics", "research") for n in range(profiles_per_domain)]
    return plan


@dataclass
class Recorder:
    """Runs each action for a random while, recording when it started and finished."""

    seed: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.random = random.Random(self.seed)
        self.events: list[tuple[float, str, int]] = []
        self.running: set[ResourceKey] = set()
        self.overlaps: list[ResourceKey] = []
        self.most_at_once = 0
        self.index: dict[int, int] = {}

    def __call__(self, act: Action) -> str:
        with self.lock:
            if act.key in self.running:
                self.overlaps.append(act.key)
            self.running.add(act.key)
            self.most_at_once = max(self.most_at_once, len(self.running))
            self.events.append((time.monotonic(), "start", id(act)))
            pause = self.random.uniform(0.001, 0.02)
        time.sleep(pause)
        with self.lock:
            self.running.discard(act.key)
            self.events.append((time.monotonic(), "end", id(act)))
        return f"done {act.name} {act.key}"

    def times(self, act: Action) -> tuple[float, float]:
        start = next(t for t, what, ident in self.events if ident == id(act) and what == "start")
        end = next(t for t, what, ident in self.events if ident == id(act) and what == "end")
        return start, end


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_action_starts_before_what_it_depends_on_has_finished(seed):
    plan = failover_plan()
    recorder = Recorder(seed)
    execution = ActionPool(4).run(plan, recorder, lambda: True)
    assert [o for o in execution.outcomes] == [f"done {a.name} {a.key}" for a in plan]
    assert not execution.interrupted and not recorder.overlaps
    assert recorder.most_at_once <= 4
    assert recorder.most_at_once > 1, "independent actions did run at once"
    needs = prerequisites(plan)
    for index, act in enumerate(plan):
        start, _ = recorder.times(act)
        for earlier in needs[index].actions:
            assert recorder.times(plan[earlier])[1] <= start, (act, plan[earlier])
        for before in plan:  # every action of an earlier kind has finished
            if stage_of(before) < needs[index].stage:
                assert recorder.times(before)[1] <= start, (act, before)
    # the concrete orders the issue names
    mount_targets_done = max(recorder.times(a)[1] for a in plan if a.name == "CreateMountTarget")
    domains = {a.key.name: recorder.times(a) for a in plan if a.name == "CreateDomain"}
    assert all(start >= mount_targets_done for start, _ in domains.values())
    for act in plan:
        if act.name == "CreateUserProfile":
            assert recorder.times(act)[0] >= domains[act.key.name.split("/")[0]][1]


def test_one_worker_runs_the_plan_in_order_in_the_calling_thread():
    plan = failover_plan(2)
    threads: list[str] = []
    order: list[Action] = []

    def run(act: Action) -> str:
        threads.append(threading.current_thread().name)
        order.append(act)
        return "ok"

    ActionPool(1).run(plan, run, lambda: True)
    assert order == plan
    assert set(threads) == {threading.current_thread().name}


def test_a_stop_starts_nothing_new_and_lets_what_is_in_flight_finish():
    plan = failover_plan(20)
    recorder = Recorder(7)
    starts: list[int] = []

    def may_start() -> bool:
        starts.append(1)
        return len(starts) <= 25  # SIGTERM arrives while the profiles are being made

    execution = ActionPool(8).run(plan, recorder, may_start)
    started = [e for e in recorder.events if e[1] == "start"]
    ended = [e for e in recorder.events if e[1] == "end"]
    assert execution.interrupted
    assert len(started) == len(ended) == 25, "everything started has finished"
    assert sum(o is not None for o in execution.outcomes) == 25
    assert execution.outcomes[-1] is None, "the rest never started"


def test_a_lost_lease_starts_nothing_new_and_is_raised_once_the_workers_are_done():
    plan = failover_plan(20)
    recorder = Recorder(9)
    checks: list[int] = []
    finished: list[Action] = []

    def may_start() -> bool:
        checks.append(1)
        if len(checks) > 20:
            raise LeaseLost("taken over")
        return True

    with pytest.raises(LeaseLost):
        ActionPool(8).run(plan, recorder, may_start, lambda act, _: finished.append(act))
    started = [e for e in recorder.events if e[1] == "start"]
    ended = [e for e in recorder.events if e[1] == "end"]
    assert len(started) == len(ended) == 20 == len(finished)
    assert len(checks) == 21, "nothing was tried after the loss"
