"""Status transitions and settings every emulated resource shares.

AWS resources do not become usable the moment a create call returns: a domain is
Pending, then InService; an update passes through Updating; a delete through Deleting.
`Lifecycle` models that with wall-clock deadlines evaluated lazily on every read, so no
timer thread is needed and `transition_seconds = 0` makes every transition immediate.
This module must not know about any particular AWS service.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

GONE = "<gone>"
# Where each in-flight status settles once its transition time has passed.
SETTLES_TO = {
    "Pending": "InService",
    "Updating": "InService",
    "Deleting": GONE,
    "ENABLING": "ENABLED",
    "DELETING": GONE,
    "creating": "available",  # EFS mount targets
}


@dataclass
class EmulatorConfig:
    """Knobs the tests and the CLI turn at run time (also through the control endpoint)."""

    transition_seconds: float = 0.0
    replication_interval_seconds: float = 1.0
    # How often a file system with clients connected publishes AWS/EFS ClientConnections
    # (EFS publishes every minute); a change is published as it happens.
    client_connections_interval_seconds: float = 60.0
    # How long after a call its CloudTrail event reaches EventBridge (emulator.cloudtrail).
    cloudtrail_delay_seconds: float = 0.0
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(
        self,
        transition_seconds: float | None = None,
        replication_interval_seconds: float | None = None,
        client_connections_interval_seconds: float | None = None,
    ) -> None:
        with self.lock:
            if transition_seconds is not None:
                if transition_seconds < 0:
                    raise ValueError("transition_seconds must be >= 0")
                self.transition_seconds = float(transition_seconds)
            if replication_interval_seconds is not None:
                if replication_interval_seconds <= 0:
                    raise ValueError("replication_interval_seconds must be > 0")
                self.replication_interval_seconds = float(replication_interval_seconds)
            if client_connections_interval_seconds is not None:
                if client_connections_interval_seconds <= 0:
                    raise ValueError("client_connections_interval_seconds must be > 0")
                self.client_connections_interval_seconds = float(
                    client_connections_interval_seconds
                )


@dataclass
class Lifecycle:
    """A status that moves to its settled value after a deadline, and when it last changed.

    `changed_at` only ever grows, by at least a millisecond per change, so a caller that
    remembers LastModifiedTime always notices a later change even within one clock tick.
    """

    status: str
    created_at: float
    settles_at: float
    changed_at: float

    @classmethod
    def begin(cls, status: str, config: EmulatorConfig) -> Lifecycle:
        now = round(config.clock(), 3)
        return cls(status, now, now + config.transition_seconds, now)

    def current(self, now: float) -> str:
        if self.status in SETTLES_TO and now >= self.settles_at:
            return SETTLES_TO[self.status]
        return self.status

    def is_gone(self, now: float) -> bool:
        return self.current(now) == GONE

    def move(self, status: str, config: EmulatorConfig) -> None:
        """Start a new transition (Updating, Deleting, ...) from the current settled state."""
        now = config.clock()
        self.changed_at = round(max(now, self.last_modified(now) + 0.001), 3)
        self.status = status
        self.settles_at = self.changed_at + config.transition_seconds

    def last_modified(self, now: float) -> float:
        # Settling is a change too: a caller that saw "Updating" must see a newer time once
        # the resource is InService, or it would never describe it again.
        if self.status in SETTLES_TO and now >= self.settles_at:
            return max(self.changed_at, round(self.settles_at, 3))
        return self.changed_at


def random_suffix(length: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def epoch(seconds: float) -> float:
    """Timestamps on the wire: epoch seconds, millisecond precision, as AWS sends them."""
    return round(seconds, 3)
