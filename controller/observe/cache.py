"""Remembered describes, so that an idle pass, a restart and a failover stay cheap.

SageMaker's list calls return each domain's and profile's LastModifiedTime, which AWS
moves on every change. A description is reused while that time is unchanged and the
entry is younger than `max_age_seconds`; after that it is described again anyway, so even
a change that did not move the timestamp is found within one full-refresh period.

Descriptions come from three places:
- a describe (complete: everything AWS answered);
- what the operator itself sent when it created the resource (`remember_sent`:
  CreateUserProfile answers only an ARN, so the request is what AWS now holds of the
  fields the operator manages). Its LastModifiedTime is not known yet: it is used only
  while a listing shows the resource untouched since its creation (LastModifiedTime ==
  CreationTime), and bound to that time; any later change, even one made before this
  controller first listed it, is described (where AWS moves LastModifiedTime when a
  profile turns InService, that costs one describe after it settles);
- the status store, after a restart (`seed`, by controller.loop.describe_seeds): each
  profile's LastModifiedTime and the description this cache held for it.
The last two are partial (`complete` False): they hold the fields the operator manages,
enough to compare with the desired state; an update based on one describes first
(controller.actions.profiles), so that what others set beside them is sent back intact.

Entries keep no timestamps (datetimes) from the answers: the planner reads none, and
thousands of them cost memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from controller.clock import Clock, SystemClock

# Fields of a description the planner never reads, dropped before it is remembered.
UNREAD = frozenset({"ResponseMetadata", "CreationTime", "LastModifiedTime"})


# One of each per profile, thousands: slots, no __dict__ each.
@dataclass(frozen=True, slots=True)
class Remembered:
    description: dict[str, Any]
    complete: bool  # a describe's answer; False: only the fields the operator manages


@dataclass(frozen=True, slots=True)
class _Entry:
    last_modified: float | None  # None: made by the operator, bound at the next listing
    fetched_at: float
    remembered: Remembered


class DescribeCache:
    def __init__(self, clock: Clock | None = None, max_age_seconds: float = 3600.0) -> None:
        self.clock = clock or SystemClock()
        self.max_age_seconds = max_age_seconds
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...], last_modified: float | None,
            untouched: bool = False) -> Remembered | None:
        """The remembered description, if still current; None means describe again.

        `untouched`: the listing shows the resource's LastModifiedTime equal to its
        CreationTime (nothing changed it since it was made). What the operator sent in
        a create stands for a describe only then, and is bound to that time: a change
        anyone made after the create, even before this controller listed the resource,
        moves LastModifiedTime past CreationTime and is described."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.last_modified is None:
                if not untouched or last_modified is None:
                    self._entries.pop(key)
                    self.misses += 1
                    return None
                entry = self._entries[key] = _Entry(last_modified, entry.fetched_at,
                                                    entry.remembered)
            fresh = (entry is not None and last_modified is not None
                     and entry.last_modified == last_modified
                     and self.clock.monotonic() - entry.fetched_at < self.max_age_seconds)
            if fresh and entry is not None:
                self.hits += 1
                return entry.remembered
            self.misses += 1
            return None

    def put(self, key: tuple[str, ...], last_modified: float | None,
            description: dict[str, Any]) -> dict[str, Any]:
        """A describe's answer (what the planner reads of it, which is returned)."""
        kept = {k: v for k, v in description.items() if k not in UNREAD}
        with self._lock:
            self._entries[key] = _Entry(last_modified, self.clock.monotonic(),
                                        Remembered(kept, complete=True))
        return kept

    def remember_sent(self, key: tuple[str, ...], description: dict[str, Any]) -> None:
        """What a create or update just sent; its LastModifiedTime is the next listed."""
        with self._lock:
            self._entries[key] = _Entry(None, self.clock.monotonic(),
                                        Remembered(description, complete=False))

    def seed(self, key: tuple[str, ...], last_modified: float,
             description: dict[str, Any], age_seconds: float) -> None:
        """What the status store recorded `age_seconds` ago, before a restart (it is
        refreshed when that record is as old as any entry may be); never replaces an
        entry this controller made itself."""
        with self._lock:
            if key not in self._entries:
                self._entries[key] = _Entry(last_modified,
                                            self.clock.monotonic() - max(0.0, age_seconds),
                                            Remembered(description, complete=False))

    def bound(self, key: tuple[str, ...]) -> tuple[float, float, dict[str, Any]] | None:
        """A remembered description bound to a listed LastModifiedTime, as (that time,
        when it was fetched on clock.monotonic(), the description); what a restarted
        controller may seed. None while there is none or its time is not known yet."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.last_modified is None:
            return None
        return entry.last_modified, entry.fetched_at, entry.remembered.description

    def is_complete(self, key: tuple[str, ...]) -> bool:
        """Whether what is remembered (if anything) is a describe's whole answer."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is None or entry.remembered.complete

    def forget(self, key: tuple[str, ...]) -> None:
        """After the controller changed the resource itself: describe it next time."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
