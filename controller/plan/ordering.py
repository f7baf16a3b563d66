"""Which actions of a plan may run at the same time, and which must wait for which.

A pass may run independent actions concurrently (controller.loop.action_pool); this
module says what "independent" means, from the plan alone:

- Kinds go in stages (KIND_ORDER: file systems, NFS security groups, mount targets,
  replication, fencing, share directories, lifecycle configs, domains, user profiles):
  an action starts once every action of an earlier kind has finished, so mount targets
  come after their file system and a domain after its mount targets. User profiles wait
  for every kind before domains and for their own domain's actions only: a profile of
  one domain does not wait for another domain's creation.
- One resource is never handled by two workers at once: actions on the same key run one
  after the other, in plan order.
- File systems, replication and fencing are the steps of a failover or a failback; their
  actions run one at a time, in plan order, as they were written to.
- An action waits for the earlier actions whose results it uses: its Refs ("known after
  apply": a new domain's id, a new NFS group's id) and its Action.after.

Waiting is for an action to finish, not to succeed: one whose prerequisite failed still
runs, and waits on its own terms (an unlearned Ref requeues it), as when a pass ran one
action at a time. Every prerequisite is earlier in the plan, so the first action not yet
started can always start once those before it have finished: no cycle. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.plan.types import KIND_ORDER, Action, Kind, Ref

STAGE = {kind.value: index for index, kind in enumerate(KIND_ORDER)}
# The failover's and failback's steps: their order within a pass is part of their design.
ONE_AT_A_TIME = frozenset({Kind.FILE_SYSTEM.value, Kind.REPLICATION.value, Kind.FENCE.value})


@dataclass(frozen=True)
class Prerequisites:
    # The action starts only when every action of a kind before KIND_ORDER[stage] has
    # finished...
    stage: int
    # ...and these earlier actions too (indices into the plan's actions).
    actions: tuple[int, ...] = ()


def stage_of(action: Action) -> int:
    """The stage an action belongs to (its kind's place in KIND_ORDER)."""
    return STAGE[action.key.kind]


def prerequisites(actions: Sequence[Action]) -> list[Prerequisites]:
    """For each action of the plan, in order, what must have finished before it starts."""
    by_resource: dict[tuple[str, str], list[int]] = {}
    last_on_key: dict[object, int] = {}
    last_of_kind: dict[str, int] = {}
    result: list[Prerequisites] = []
    for index, action in enumerate(actions):
        kind, name = action.key.kind, action.key.name
        needs: set[int] = set()
        if action.key in last_on_key:
            needs.add(last_on_key[action.key])
        if kind in ONE_AT_A_TIME and kind in last_of_kind:
            needs.add(last_of_kind[kind])
        for ref in (*_refs(action.params), *action.after):
            needs.update(by_resource.get((str(ref.kind), ref.name), ()))
        stage = STAGE[kind]
        if kind == Kind.USER_PROFILE.value:
            stage = STAGE[Kind.DOMAIN.value]
            domain = name.split("/", 1)[0]
            needs.update(by_resource.get((Kind.DOMAIN.value, domain), ()))
        result.append(Prerequisites(stage, tuple(sorted(needs))))
        by_resource.setdefault((kind, name), []).append(index)
        last_on_key[action.key] = index
        last_of_kind[kind] = index
    return result


def _refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _refs(item)
