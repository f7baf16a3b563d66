"""A daemon thread that runs one piece of the emulator's background work again and again:
every interval, and at once when woken. The replicator and the ClientConnections
publisher share it.

A failing run is reported on stderr with what the work is, and the next run comes as
usual (one broken configuration must not stop the others). This module must not know
what the work does.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable


class Ticker:
    def __init__(self, name: str, work: Callable[[], object], interval: Callable[[], float],
                 failure: str) -> None:
        """`interval` is read before each wait (a config may change it); `failure` names
        what failed in the stderr line ("replication pass failed")."""
        self._work = work
        self._interval = interval
        self._failure = failure
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(timeout=self._interval())
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._work()
            except Exception as error:  # keep going; say what broke
                print(f"studio-operator emulator: {self._failure}: {error!r}", file=sys.stderr)
