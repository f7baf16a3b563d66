"""Read the active region's failover record across regions, for the old region's fence.

The old active region fences itself only once the region the flag points at has
recorded its takeover (controller.plan.takeover decides; this reads). The record is one
item in that region's status table, which has the same name in both regions (the
controller's CloudFormation stack makes it per region). A read that fails is reported
as such, never as "taken over". Reads only.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from controller.gateway import AwsGateway
from controller.observed import ObservedTakeover
from controller.status.failover_record import FailoverRecord
from controller.status.store import DynamoStatusStore


def read_takeover(gateway: AwsGateway, active_region: str, table: str) -> ObservedTakeover:
    try:
        item = DynamoStatusStore(gateway, active_region, table).get_item(
            FailoverRecord().to_item()["pk"])
    except (BotoCoreError, ClientError) as error:
        code = (error.response.get("Error", {}).get("Code")
                if isinstance(error, ClientError) else None)
        return ObservedTakeover(active_region, error=code or type(error).__name__)
    if item is None:
        return ObservedTakeover(active_region)
    record = FailoverRecord.from_item(item)
    return ObservedTakeover(active_region, record.active_region or None, record.phase,
                            record.acting_revision)
