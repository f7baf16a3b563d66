"""A key-based work queue with per-key exponential backoff and jitter.

Level-triggered, in the manner of client-go's workqueue: a key names a resource and
carries no event payload; adding a key already waiting does nothing; a key that keeps
failing waits base * 2^failures (capped, with jitter) before its next try; forget()
clears that history after a success. Time comes from an injected Clock. No I/O.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field

from controller.clock import Clock


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    # Each delay is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.2

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.max_seconds, self.base_seconds * (2 ** max(0, failures - 1)))
        return raw * rng.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(order=True)
class _Entry:
    due: float
    sequence: int
    key: Hashable = field(compare=False)


class WorkQueue:
    def __init__(self, clock: Clock, backoff: Backoff = Backoff(), seed: int | None = None):
        self._clock = clock
        self._backoff = backoff
        self._rng = random.Random(seed)
        self._heap: list[_Entry] = []
        self._due: dict[Hashable, float] = {}
        self._failures: dict[Hashable, int] = {}
        self._sequence = 0
        self._lock = threading.Lock()

    def add(self, key: Hashable) -> None:
        """Make `key` due now (or keep its earlier due time)."""
        self.add_after(key, 0.0)

    def add_after(self, key: Hashable, seconds: float) -> None:
        due = self._clock.monotonic() + max(0.0, seconds)
        with self._lock:
            current = self._due.get(key)
            if current is not None and current <= due:
                return
            self._due[key] = due
            self._sequence += 1
            heapq.heappush(self._heap, _Entry(due, self._sequence, key))

    def add_rate_limited(self, key: Hashable) -> float:
        """Requeue after a failure; returns the delay chosen."""
        with self._lock:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        delay = self._backoff.delay(failures, self._rng)
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    def waiting(self, key: Hashable) -> bool:
        """True while `key` is queued for a later time (backing off or settling)."""
        with self._lock:
            due = self._due.get(key)
        return due is not None and due > self._clock.monotonic()

    def pop_ready(self) -> list[Hashable]:
        """Every key that is due now, earliest first, removed from the queue."""
        now = self._clock.monotonic()
        ready: list[Hashable] = []
        with self._lock:
            while self._heap and self._heap[0].due <= now:
                entry = heapq.heappop(self._heap)
                if self._due.get(entry.key) == entry.due:
                    del self._due[entry.key]
                    ready.append(entry.key)
        return ready

    def next_due_in(self) -> float | None:
        """Seconds until the next key is due (0 if one is), None if the queue is empty."""
        with self._lock:
            while self._heap and self._due.get(self._heap[0].key) != self._heap[0].due:
                heapq.heappop(self._heap)
            if not self._heap:
                return None
            return max(0.0, self._heap[0].due - self._clock.monotonic())

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)
