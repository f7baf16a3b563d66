"""What an executor needs while a plan runs: clients, the mount root, and what earlier
actions of the same plan learned (a new domain's id, a new file system's id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import RequeueAfter
from controller.gateway import AwsGateway
from controller.model import MANAGED_TAG, MANAGED_TAG_VALUE
from controller.plan.types import Ref

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
    # The revision's desired state and the snapshot workers (controller.snapshots.runner),
    # for the snapshot and restore executors; None where no status table is kept.
    desired: Any = None
    snapshots: Any = None

    def client(self, service: str) -> Any:
        return self.gateway.client(service, self.region)

    def learn(self, kind: str, name: str, attribute: str, value: Any) -> None:
        self.learned[(kind, name, attribute)] = value

    def resolve(self, value: Any) -> Any:
        """`value` with every Ref replaced by what an earlier action learned."""
        if isinstance(value, Ref):
            key = (value.kind, value.name, value.attribute)
            if key not in self.learned:
                raise RequeueAfter(SETTLE_SECONDS, f"waiting for {value.kind}/{value.name}")
            return self.learned[key]
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value
