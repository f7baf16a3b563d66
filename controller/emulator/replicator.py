"""The background replicator: EFS replication's data plane, as a daemon thread.

Every `replication_interval_seconds` (and at once when a configuration is created) it
mirrors each active configuration's source folder into its destination folder, then
records LastReplicatedTimestamp as the time the pass *started* (everything written
before then is on the replica, which is what the EFS field promises) and moves a new
configuration from ENABLING to ENABLED; a new replica has no timestamp until its first
pass has finished. Configurations being deleted (either side) are not mirrored any more,
nor are those with a region that is down (the lag then grows, as it would); when the
destination's side is deleted, whatever the replica held that its source did not is
moved into EFS's lost+found folder at the replica's root. This module must not answer
API calls.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from controller.emulator.efs_store import EfsStore, Replication
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.mirror import mirror_tree, move_unmatched
from controller.emulator.ticker import Ticker


class Replicator:
    def __init__(
        self,
        store: EfsStore,
        config: EmulatorConfig,
        region_down: Callable[[str], bool] = lambda region: False,
    ):
        self._store = store
        self._config = config
        self._region_down = region_down
        self._pass_lock = threading.Lock()  # one pass at a time: the thread or sync_now()
        # Held while a replica's folder is changed: by a mirror, or by the lost+found move
        # when a deletion completes (which happens under the store's lock, so a mirror
        # must not take the store's lock while holding this one).
        self._folder_lock = threading.Lock()
        self._ticker = Ticker("efs-replicator", self.sync_now,
                              lambda: config.replication_interval_seconds,
                              "replication pass failed")
        self.passes = 0
        store.on_deleted = self._keep_unmatched

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def wake(self) -> None:
        self._ticker.wake()

    def sync_now(self) -> int:
        """Run one pass in the caller's thread; returns how many configurations it mirrored."""
        with self._pass_lock:
            return self._pass()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No pass runs while this is held (reset wipes the folders under it)."""
        with self._pass_lock:
            yield

    def _pass(self) -> int:
        with self._store.lock:
            now = self._config.clock()
            self._store.sweep(now)
            active = [
                r
                for r in self._store.replications
                if r.mirroring(now)
                and not self._region_down(r.source_region)
                and not self._region_down(r.destination_region)
            ]
        mirrored = 0
        for replication in active:
            started = self._config.clock()
            folders = self._store.folders
            try:
                with self._folder_lock:
                    if replication.lifecycle.status == "DELETING" or replication.side_deletions:
                        continue  # deleted since the pass began: the replica is on its own
                    source = folders.ensure(replication.source_id)
                    mirror_tree(source, folders.ensure(replication.destination_id))
            except OSError as error:
                # The lag then grows, which is how a real stalled replication shows.
                print(
                    f"studio-operator emulator: replicating {replication.source_id} -> "
                    f"{replication.destination_id} failed: {error!r}",
                    file=sys.stderr,
                )
                continue
            self._record(replication, started)
            mirrored += 1
        self.passes += 1
        return mirrored

    def _keep_unmatched(self, replication: Replication) -> None:
        """A deleted configuration leaves what only the replica held in lost+found."""
        folders = self._store.folders
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._config.clock()))
        try:
            with self._folder_lock:
                move_unmatched(
                    folders.ensure(replication.source_id),
                    folders.ensure(replication.destination_id),
                    f"efs-replication-lost+found-{replication.source_id}-{stamp}",
                )
        except OSError as error:
            print(
                f"studio-operator emulator: lost+found of {replication.destination_id} "
                f"failed: {error!r}",
                file=sys.stderr,
            )

    def _record(self, replication: Replication, started: float) -> None:
        with self._store.lock:
            now = self._config.clock()
            if any(r is replication for r in self._store.replications) and replication.mirroring(
                now
            ):
                replication.last_replicated = started
                replication.first_pass_done = True
