"""Assembling a region's reconciler: gateway, status table, work queue, clock.

One place, so the CLI, the demo, the drill, the benchmarks and the tests build the
controller the same way.
"""

from __future__ import annotations

from pathlib import Path

from controller.clock import Clock
from controller.gateway import AwsGateway
from controller.loop.action_pool import DEFAULT_WORKERS
from controller.loop.reconciler import Reconciler
from controller.loop.status_writer import StatusWriter
from controller.loop.workqueue import Backoff, WorkQueue
from controller.status.store import DEFAULT_TABLE, DynamoStatusStore


def make_reconciler(gateway: AwsGateway, region: str, efs_root: Path | None, clock: Clock,
                    with_status: bool = True, status_table: str = DEFAULT_TABLE,
                    backoff: Backoff | None = None, seed: int | None = None,
                    max_concurrent_actions: int = DEFAULT_WORKERS) -> Reconciler:
    """A reconciler for `region`; with status, its table is created when missing.
    `max_concurrent_actions`: how many actions of a pass may run at once (1: serially)."""
    status = None
    if with_status:
        store = DynamoStatusStore(gateway, region, status_table)
        store.ensure_table()
        status = StatusWriter(store, clock)
    queue = WorkQueue(clock, backoff or Backoff(), seed)
    return Reconciler(gateway, region, efs_root, queue, clock, status,
                      max_concurrent_actions=max_concurrent_actions)
