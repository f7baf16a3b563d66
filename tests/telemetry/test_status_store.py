"""The status table: a pass's changed statuses go out in batches, unchanged ones not at
all, and throttled batch writes are retried (botocore) without losing an item."""

from __future__ import annotations

from controller.gateway import AwsGateway
from controller.status.conditions import READY, TRUE, Condition
from controller.status.store import DynamoStatusStore, ResourceStatus


def statuses(count: int, revision: str) -> list[ResourceStatus]:
    return [ResourceStatus("UserProfile", f"research/user{i}", "us-east-1",
                           (Condition(READY, TRUE, "Applied", "created", 1.0),), revision,
                           revision, 1.0) for i in range(count)]


def store(aws, attempts: int = 3) -> DynamoStatusStore:
    found = DynamoStatusStore(AwsGateway(endpoint_url=aws.endpoint_url,
                                         max_attempts=attempts), "us-east-1", "status-test")
    found.ensure_table()
    return found


def test_changed_statuses_are_written_25_to_a_call_and_unchanged_ones_not_again(aws):
    table = store(aws)
    aws.reset_request_counts()
    assert table.put_many(statuses(60, "r1")) == 60
    counts = aws.request_counts()
    assert counts.get("dynamodb:BatchWriteItem") == 3 and "dynamodb:PutItem" not in counts
    loaded, _ = store(aws).load()
    assert len([k for k in loaded if k.startswith("UserProfile#")]) == 60
    aws.reset_request_counts()
    assert table.put_many(statuses(60, "r1")) == 0
    assert aws.request_counts().get("dynamodb:BatchWriteItem", 0) == 0


def test_throttled_batch_writes_are_retried_and_nothing_is_lost(aws):
    table = store(aws, attempts=8)
    aws.set_faults(rate=0.5, kinds=("throttle", "5xx"), operations={"BatchWriteItem"}, seed=3)
    try:
        assert table.put_many(statuses(100, "r2")) == 100
    finally:
        aws.clear_faults()
    loaded, _ = store(aws).load()
    assert {s.observed_revision for k, s in loaded.items() if k.startswith("UserProfile#")} == {
        "r2"}
    assert len([k for k in loaded if k.startswith("UserProfile#")]) == 100


def test_a_restarted_store_writes_no_unchanged_status_and_reads_its_records_back(aws):
    store(aws).put_many(statuses(30, "r3"))
    store(aws).put_item({"pk": "user#research/user1", "domain": "research", "name": "user1"})
    restarted = store(aws)
    restarted.load()  # keeps a digest of each status, the records whole
    aws.reset_request_counts()
    assert restarted.put_many(statuses(30, "r3")) == 0
    assert restarted.put_many(statuses(30, "r4")[:2] + statuses(30, "r3")[2:]) == 2
    assert aws.request_counts().get("dynamodb:BatchWriteItem") == 1
    assert restarted.items_with_prefix("user#") == [
        {"pk": "user#research/user1", "domain": "research", "name": "user1"}]
    assert restarted.items_with_prefix("UserProfile#") == []  # statuses: StatusWriter's
