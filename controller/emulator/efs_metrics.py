"""AWS/EFS ClientConnections, published into moto's CloudWatch as EFS publishes it.

EFS reports, per file system (dimension FileSystemId), how many clients are connected
(Unit Count; EFS's documented statistic is Sum over one-minute periods). The emulator's
timing, the stricter reading of when EFS publishes:

- a data point at every change of the count, stamped with the moment of the change
  (a Studio app that reaches InService or finishes deleting changes it at that moment),
  including the change down to 0;
- while the count is above 0, one data point every `client_connections_interval_seconds`
  (60 by default, EFS's period);
- nothing while no client is connected: an idle file system has no data points, so a
  reader must treat "no data point lately" as no client, and a last non-zero point as
  clients that may still be there.

A daemon thread catches up every quarter second (changes that happen on the transition
clock need no API call to be seen); `publish_now()` runs one pass in the caller's thread.
The data points go through the in-process gateway, so they are neither counted nor
faulted, and real CloudWatch would refuse them from a client (the AWS/ namespace is
AWS's). This module must not decide who may mount.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from controller.emulator.efs_mounts import MountTable
from controller.emulator.efs_store import FsKey
from controller.emulator.lifecycle import EmulatorConfig
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.ticker import Ticker

NAMESPACE = "AWS/EFS"
METRIC = "ClientConnections"
TICK_SECONDS = 0.25


class ConnectionMetrics:
    def __init__(self, table: MountTable, gateway: MotoGateway, config: EmulatorConfig):
        self._table = table
        self._gateway = gateway
        self._config = config
        self._pass_lock = threading.Lock()
        self._ticker = Ticker("efs-client-connections", self.publish_now,
                              lambda: TICK_SECONDS, "ClientConnections not published")
        self._since = config.clock()
        # file system -> (count last published, when)
        self._last: dict[FsKey, tuple[int, float]] = {}
        table.on_change = self._ticker.wake

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def reset(self) -> None:
        with self._pass_lock:
            self._last.clear()
            self._since = self._config.clock()

    def publish_now(self) -> int:
        """Publish what changed since the last pass, and what is due; returns the count."""
        with self._pass_lock:
            now = self._config.clock()
            points: list[tuple[FsKey, int, float]] = []
            for key, moments in self._table.changes_between(self._since, now).items():
                for moment in moments:
                    count = self._table.count_at(key, moment)
                    if self._last.get(key, (0, 0.0))[0] != count:
                        points.append((key, count, moment))
                        self._last[key] = (count, moment)
            interval = self._config.client_connections_interval_seconds
            for key in self._table.keys_active(now) | set(self._last):
                count, published = self._last.get(key, (0, 0.0))
                if count > 0 and now - published >= interval:
                    count = self._table.count_at(key, now)
                    points.append((key, count, now))
                    self._last[key] = (count, now)
            self._last = {k: v for k, v in self._last.items() if v[0] > 0}
            self._table.forget_before(self._since)
            self._since = now
        for key, count, moment in points:
            self._put(key, count, moment)
        return len(points)

    def _put(self, key: FsKey, count: int, moment: float) -> None:
        account, region, file_system_id = key
        cloudwatch = self._gateway.client("cloudwatch", region, account)
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[{
            "MetricName": METRIC,
            "Dimensions": [{"Name": "FileSystemId", "Value": file_system_id}],
            "Timestamp": datetime.fromtimestamp(moment, UTC),
            "Value": float(count),
            "Unit": "Count",
        }])
