"""What an executor needs while a plan runs: clients, the mount root, and what earlier
actions of the same plan learned (a new domain's id, a new file system's id).

Several actions of a pass run at once (controller.loop.action_pool), so what they learn,
the domain statuses they see and the warnings they leave go through methods that hold
the context's lock."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import RequeueAfter
from controller.gateway import AwsGateway
from controller.model import MANAGED_TAG, MANAGED_TAG_VALUE
from controller.observe.cache import DescribeCache
from controller.plan.types import Ref
from controller.status.history import HistoryEntry

MANAGED_TAGS = [{"Key": MANAGED_TAG, "Value": MANAGED_TAG_VALUE}]
# How long to wait before looking again at something AWS is still making.
SETTLE_SECONDS = 10.0


@dataclass
class ExecutionContext:
    gateway: AwsGateway
    region: str
    efs_root: Path | None
    revision: str
    learned: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    # Domain name -> status as last seen (observed, or after this plan created it).
    domain_status: dict[str, str] = field(default_factory=dict)
    # Said once per pass: things done only partly (ownership not set when not root).
    warnings: list[str] = field(default_factory=list)
    # When the pass began, on the controller's clock (epoch seconds).
    started_at: float = 0.0
    # Remembers what creates and updates answered (observe.cache), so that the next
    # pass need not describe what this one made; None: nothing is remembered.
    describes: DescribeCache | None = None
    # What executors add to the history (controller.status.history), with the details
    # only they know (files, bytes); written after the pass. (Executors on the pool's
    # threads only append: list.append is atomic.)
    history: list[HistoryEntry] = field(default_factory=list)
    # The revision's desired state and the snapshot workers (controller.snapshots.runner),
    # for the snapshot and restore executors; None where no status table is kept.
    desired: Any = None
    snapshots: Any = None
    # The engine for data moves whose file systems are not mounted here (a worker task,
    # controller.movers); None: only what is mounted under efs_root can be moved.
    worker_mover: Any = None
    # DataSync (controller.movers.datasync), for the bulk copies it takes; None: not used.
    datasync_mover: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        return self.gateway.client(service, self.region)

    def learn(self, kind: str, name: str, attribute: str, value: Any) -> None:
        with self._lock:
            self.learned[(kind, name, attribute)] = value

    def warn(self, message: str) -> None:
        """Something done only partly, said once at the end of the pass."""
        with self._lock:
            self.warnings.append(message)

    def set_domain_status(self, name: str, status: str) -> None:
        with self._lock:
            self.domain_status[name] = status

    def domain_status_of(self, name: str) -> str | None:
        with self._lock:
            return self.domain_status.get(name)

    def resolve(self, value: Any) -> Any:
        """`value` with every Ref replaced by what an earlier action learned."""
        if isinstance(value, Ref):
            key = (value.kind, value.name, value.attribute)
            with self._lock:
                known, found = key in self.learned, self.learned.get(key)
            if not known:
                raise RequeueAfter(SETTLE_SECONDS, f"waiting for {value.kind}/{value.name}")
            return found
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value
