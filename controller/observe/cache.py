"""Remembered describes, so an idle pass over an unchanged estate stays cheap.

SageMaker's list calls return each domain's and profile's LastModifiedTime, which AWS
moves on every change. A describe is reused while that time is unchanged and the entry
is younger than `max_age_seconds`; after that it is described again anyway, so even a
change that did not move the timestamp is found within one full-refresh period.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from controller.clock import Clock, SystemClock


@dataclass(frozen=True)
class _Entry:
    last_modified: Any
    fetched_at: float
    description: dict[str, Any]


class DescribeCache:
    def __init__(self, clock: Clock | None = None, max_age_seconds: float = 3600.0) -> None:
        self.clock = clock or SystemClock()
        self.max_age_seconds = max_age_seconds
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...], last_modified: Any) -> dict[str, Any] | None:
        """The remembered description, if still current; None means describe again."""
        with self._lock:
            entry = self._entries.get(key)
            fresh = (entry is not None and last_modified is not None
                     and entry.last_modified == last_modified
                     and self.clock.monotonic() - entry.fetched_at < self.max_age_seconds)
            if fresh and entry is not None:
                self.hits += 1
                return entry.description
            self.misses += 1
            return None

    def put(self, key: tuple[str, ...], last_modified: Any, description: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = _Entry(last_modified, self.clock.monotonic(), description)

    def forget(self, key: tuple[str, ...]) -> None:
        """After the controller changed the resource itself: describe it next time."""
        with self._lock:
            self._entries.pop(key, None)
