"""Read how many NFS clients EFS reports connected to a file system (AWS/EFS
ClientConnections in CloudWatch), for fencing an old active region's copy.

A fence (a Deny of ClientWrite in the file system policy) only stops *new* connections:
EFS judges the policy when a client connects, so a client that mounted the copy before
the fence can go on writing to it. Stopping the region's Studio apps is the signal the
operator controls; the connection count is the one it can check for every other client
(a worker, an instance someone mounted it on). Until it reads 0, the copy is not treated
as fenced: nothing is saved from it and nothing may overwrite it.

The rule: the latest one-minute data point within the last five minutes is the number
of clients; no data point in that window is 0. EFS publishes the metric per minute while
clients are connected and (the stricter reading) nothing while none are, so a last
non-zero point means clients that may still be there until a later point says 0 or five
minutes pass without one. Maximum, not EFS's documented Sum, is read per period: with
one point a minute they are equal, and where a minute holds several points (a count that
changed), Maximum never adds them up and never hides a client that was there. A read
that fails is "unknown" (None): the caller waits, never guesses 0. Reads only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from controller.gateway import AwsGateway

NAMESPACE = "AWS/EFS"
METRIC = "ClientConnections"
WINDOW_SECONDS = 300
PERIOD_SECONDS = 60
# Data points stamped a little after the controller's clock (clock skew) still count.
SKEW_SECONDS = 60


def client_connections(gateway: AwsGateway, region: str, file_system_ids: Iterable[str],
                       now: float) -> dict[str, int | None]:
    """File system id -> clients connected by the rule above; None when not readable."""
    cloudwatch = gateway.client("cloudwatch", region)
    start = datetime.fromtimestamp(now - WINDOW_SECONDS, UTC)
    end = datetime.fromtimestamp(now + SKEW_SECONDS, UTC)
    found: dict[str, int | None] = {}
    for file_system_id in sorted(set(file_system_ids)):
        try:
            points = cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE, MetricName=METRIC,
                Dimensions=[{"Name": "FileSystemId", "Value": file_system_id}],
                StartTime=start, EndTime=end, Period=PERIOD_SECONDS,
                Statistics=["Maximum"])["Datapoints"]
        except (BotoCoreError, ClientError):
            found[file_system_id] = None
            continue
        latest = max(points, key=lambda p: p["Timestamp"], default=None)
        found[file_system_id] = int(latest["Maximum"]) if latest is not None else 0
    return found
