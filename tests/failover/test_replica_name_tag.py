"""The replica's Name tag is how the other region finds its copy: the active region
checks it every pass and puts it back when it has gone, and still finds the replica by
the id its replication names meanwhile."""

from __future__ import annotations

from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.gateway import AwsGateway
from controller.observe import observe
from tests.converge.helpers import converge, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
PRIMARY, REPLICA = "us-east-1", "us-west-2"


def test_a_replica_whose_name_tag_was_removed_is_tagged_again(aws):
    desired = prepared(aws, load_desired_state(EXAMPLE))
    clock = ManualClock()
    primary = reconciler(aws, clock)
    converge(primary, desired, clock)
    west = boto3.client("efs", region_name=REPLICA, endpoint_url=aws.endpoint_url)
    (replica,) = [f["FileSystemId"] for f in west.describe_file_systems()["FileSystems"]]
    west.untag_resource(ResourceId=replica, TagKeys=["Name"])
    assert "studio-efs" not in {t["Value"] for t in west.list_tags_for_resource(
        ResourceId=replica)["Tags"]}
    # The standby region cannot find its copy now.
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    assert observe(gateway, desired, REPLICA, aws.efs_root).references.file_systems == {
        "studio-efs": None}
    result = primary.reconcile(desired)
    assert [(o.action, o.key.name, o.outcome) for o in result.outcomes] == [
        ("TagReplica", "studio-efs/name-tag", "ok")]
    tags = {t["Key"]: t["Value"] for t in west.list_tags_for_resource(
        ResourceId=replica)["Tags"]}
    assert tags["Name"] == "studio-efs"
    assert primary.reconcile(desired).plan.actions == ()
