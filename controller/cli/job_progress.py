"""A one-line progress display for `studioctl snapshot create` and `studioctl restore`.

A thread redraws one line on stderr a few times a second: files, bytes, rate and ETA
(when the total is known: a restore's stored size, or a snapshot's previous size of the
same source); the last reading stays when the job ends. It draws only when stderr is a
terminal, so logs, pipes and JSON output
stay clean. This module must not touch the job it shows.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

INTERVAL = 0.25


@dataclass(frozen=True)
class Reading:
    files: int
    bytes: int  # what the rate is about (content restored, or archive uploaded)
    done: int  # progress towards `total`, in the same unit as total
    total: int  # 0: not known (no ETA)


def human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def render(reading: Reading, elapsed: float) -> str:
    rate = reading.bytes / elapsed if elapsed > 0 else 0.0
    line = f"{reading.files} files, {human(reading.bytes)}, {human(rate)}/s"
    if reading.total and reading.done and elapsed > 0:
        left = max(0.0, elapsed * (reading.total - reading.done) / reading.done)
        line += f", {min(100.0, 100 * reading.done / reading.total):.0f}%, ETA {left:.0f}s"
    else:
        line += ", ETA unknown"
    return line


class ProgressLine:
    """Redraws `read()` on `stream` until stopped, only when `stream` is a terminal."""

    def __init__(self, read: Callable[[], Reading], stream: TextIO | None = None) -> None:
        self._read = read
        self._stream = stream or sys.stderr
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        if self._stream.isatty():
            self._thread = threading.Thread(target=self._draw, name="progress", daemon=True)
            self._thread.start()

    def _draw(self) -> None:
        while not self._stop.wait(INTERVAL):
            line = render(self._read(), time.monotonic() - self._started)
            self._stream.write(f"\r\033[K{line}")
            self._stream.flush()

    def stop(self) -> None:
        """Stop redrawing; the last reading stays on its own line."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        line = render(self._read(), time.monotonic() - self._started)
        self._stream.write(f"\r\033[K{line}\n")
        self._stream.flush()
