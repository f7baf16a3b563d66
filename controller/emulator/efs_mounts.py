"""Who has the emulator's EFS file systems mounted, and whether a new mount gets in.

In local mode nothing really mounts: the folders are plain folders. The emulator still
keeps the record EFS keeps, because the operator depends on what follows from it: a
mount is let in only if the client reaches an available mount target (efs_network) and
the file system policy allows it at that moment (efs_access); once in, it keeps working
whatever the policy says later, until the client unmounts. Studio apps mount their
custom file systems when they reach InService and unmount when they are deleted
(sagemaker_app_mounts); anything else (a worker task) mounts through the Python API or
the control endpoint. Each record holds when it starts and ends, so apps whose status
changes later, on the transition clock, need no timer. This module must not publish
metrics (efs_metrics does) or answer AWS API calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from controller.emulator.efs_access import Client, refusal
from controller.emulator.efs_network import network_refusal
from controller.emulator.efs_store import EfsStore, FsKey
from controller.emulator.lifecycle import EmulatorConfig, random_suffix
from controller.emulator.moto_gateway import DEFAULT_ACCOUNT, MotoGateway


class MountRefused(Exception):
    """EFS did not let the client in (mount.nfs would fail); the message says why."""


@dataclass
class Mount:
    client_id: str
    account: str
    region: str
    file_system_id: str
    principal: str | None
    read_only: bool
    started_at: float
    ended_at: float | None = None

    @property
    def key(self) -> FsKey:
        return (self.account, self.region, self.file_system_id)

    def active(self, now: float) -> bool:
        return self.started_at <= now and (self.ended_at is None or now < self.ended_at)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


class MountTable:
    def __init__(self, store: EfsStore, gateway: MotoGateway, config: EmulatorConfig):
        self._store = store
        self._gateway = gateway
        self._config = config
        self._lock = threading.Lock()
        self._mounts: list[Mount] = []
        # Told after every change (the metrics publisher wakes up).
        self.on_change: Callable[[], None] = lambda: None

    def refusal(self, region: str, file_system_id: str, client: Client,
                account: str = DEFAULT_ACCOUNT, subnet_ids: Sequence[str] = (),
                security_groups: Iterable[str] = ()) -> str | None:
        """Why EFS would not let this client mount the file system now, or None."""
        now = self._config.clock()
        reason = network_refusal(self._gateway, self._store, account, region, file_system_id,
                                 subnet_ids, security_groups, now)
        if reason is not None:
            return reason
        with self._store.lock:
            policy = self._store.policies.get((account, region, file_system_id))
        found = refusal(policy, client)
        return None if found is None else f"access denied: {found} ({file_system_id})."

    def mount(self, region: str, file_system_id: str, *, client_id: str | None = None,
              principal: str | None = None, read_only: bool = False,
              account: str = DEFAULT_ACCOUNT, subnet_ids: Sequence[str] = (),
              security_groups: Iterable[str] = ()) -> str:
        """Connect a client (checked now); returns its id. Raises MountRefused."""
        client = Client(principal=principal, write=not read_only)
        reason = self.refusal(region, file_system_id, client, account, subnet_ids,
                              security_groups)
        if reason is not None:
            raise MountRefused(reason)
        client_id = client_id or f"client-{random_suffix(10)}"
        self.record(Mount(client_id, account, region, file_system_id, principal, read_only,
                          self._config.clock()))
        return client_id

    def record(self, mount: Mount) -> None:
        """Keep a mount already checked (a Studio app's); a repeat is the same mount."""
        with self._lock:
            if not any(m.client_id == mount.client_id and m.key == mount.key
                       and m.ended_at is None for m in self._mounts):
                self._mounts.append(mount)
        self.on_change()

    def unmount(self, client_id: str, at: float | None = None) -> int:
        """End the client's mounts (at `at`, default now); returns how many it had."""
        when = self._config.clock() if at is None else at
        with self._lock:
            ending = [m for m in self._mounts if m.client_id == client_id and m.ended_at is None]
            for mount in ending:
                mount.ended_at = max(when, mount.started_at)
        if ending:
            self.on_change()
        return len(ending)

    def mounts(self, now: float | None = None) -> list[Mount]:
        """The mounts active now (copies)."""
        when = self._config.clock() if now is None else now
        with self._lock:
            return [Mount(**asdict(m)) for m in self._mounts if m.active(when)]

    def count_at(self, key: FsKey, when: float) -> int:
        with self._lock:
            return len({m.client_id for m in self._mounts if m.key == key and m.active(when)})

    def changes_between(self, after: float, until: float) -> dict[FsKey, list[float]]:
        """When each file system's client count may have changed in (after, until]."""
        found: dict[FsKey, set[float]] = {}
        with self._lock:
            for mount in self._mounts:
                for moment in (mount.started_at, mount.ended_at):
                    if moment is not None and after < moment <= until:
                        found.setdefault(mount.key, set()).add(moment)
        return {key: sorted(moments) for key, moments in found.items()}

    def keys_active(self, now: float) -> set[FsKey]:
        with self._lock:
            return {m.key for m in self._mounts if m.active(now)}

    def forget_before(self, moment: float) -> None:
        """Drop mounts that ended before `moment` (their changes are published)."""
        with self._lock:
            self._mounts = [m for m in self._mounts
                            if m.ended_at is None or m.ended_at >= moment]

    def reset(self) -> None:
        with self._lock:
            self._mounts.clear()
