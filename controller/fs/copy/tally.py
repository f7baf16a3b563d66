"""Thread-safe running totals of a copy, and the throttled progress callback.

Workers record what each entry ended as; the engine turns the totals into a CopyReport.
This module must not touch the file system or decide what to copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from controller.fs.copy.entries import Done, Outcome
from controller.fs.copy.report import EntryError, Progress

PROGRESS_INTERVAL = 0.25  # seconds: "a few times per second" at most


class Tally:
    def __init__(self, progress: Callable[[Progress], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._progress = progress
        self._progress_lock = threading.Lock()  # one callback at a time, never queued
        self.started = time.monotonic()
        self._last_tick = self.started
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self.directories_created = 0
        self.bytes_copied = 0
        self.entries_done = 0  # non-directory entries examined: progress for no-op runs too
        self.extra = 0
        self.conflicts: list[str] = []
        self.errors: list[EntryError] = []
        self.metadata_not_kept: list[EntryError] = []

    def record_batch(self, results: list[tuple[str, Done]], up_to_date: int = 0) -> None:
        """What a batch of non-directory entries ended as, plus `up_to_date` more entries
        found equal (counted, not listed): one lock and one progress check per batch."""
        with self._lock:
            counts = self.counts
            for rel, done in results:
                counts[done.outcome] += 1
                self.bytes_copied += done.bytes
                if done.conflict:
                    self.conflicts.append(rel)
                self.metadata_not_kept.extend(EntryError(rel, note) for note in done.not_kept)
            counts[Outcome.UP_TO_DATE] += up_to_date
            self.entries_done += len(results) + up_to_date
        self.tick()

    def directory(self, outcome: Outcome | None) -> None:
        """A directory was created (None) or found existing with this outcome."""
        with self._lock:
            if outcome is None:
                self.directories_created += 1
            else:
                self.counts[outcome] += 1

    def add_extra(self, count: int) -> None:
        with self._lock:
            self.extra += count

    def not_kept(self, rel: str, message: str) -> None:
        """An xattr or ACL of this entry that the target could not hold."""
        with self._lock:
            self.metadata_not_kept.append(EntryError(rel, message))

    def error(self, rel: str, message: str) -> None:
        with self._lock:
            self.errors.append(EntryError(rel, message))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def snapshot(self) -> Progress:
        with self._lock:
            return Progress(self.entries_done, self.bytes_copied, self.elapsed())

    def tick(self, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last_tick < PROGRESS_INTERVAL:
            return
        # Non-blocking: a worker never waits for a slow callback another worker is in.
        if not self._progress_lock.acquire(blocking=force):
            return
        try:
            if force or now - self._last_tick >= PROGRESS_INTERVAL:
                self._last_tick = now
                self._progress(self.snapshot())
        finally:
            self._progress_lock.release()
