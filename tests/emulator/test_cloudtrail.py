"""The emulator delivers a CloudTrail-shaped event to EventBridge for every SageMaker and
EFS call that is not a read, as AWS does for a trail's management events; a rule routes
them to an SQS queue."""

from __future__ import annotations

import json
import time

import boto3

from controller.emulator.prepare_events import ensure_event_queue

REGION = "us-east-1"


def _clients(aws, region: str = REGION):
    return {name: boto3.client(name, region_name=region, endpoint_url=aws.endpoint_url)
            for name in ("sqs", "events", "efs", "sagemaker")}


def _events(clients, url: str, wait: int = 2) -> list[dict]:
    found = []
    while True:
        messages = clients["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=wait).get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages]
        wait = 0


def test_writes_are_delivered_reads_are_not_and_failures_carry_their_error(aws):
    clients = _clients(aws)
    url = ensure_event_queue(clients["sqs"], clients["events"], [])
    fs_id = clients["efs"].create_file_system(CreationToken="events")["FileSystemId"]
    clients["efs"].describe_file_systems()
    clients["sagemaker"].list_domains()
    try:
        clients["sagemaker"].delete_user_profile(DomainId="d-abcdefghijkl",
                                                 UserProfileName="nobody")
    except clients["sagemaker"].exceptions.ResourceNotFound:
        pass
    aws.drain_cloudtrail()
    events = _events(clients, url)
    summary = sorted((e["source"], e["detail"]["eventName"], e["detail"].get("errorCode"))
                     for e in events)
    assert summary == [("aws.elasticfilesystem", "CreateFileSystem", None),
                       ("aws.sagemaker", "DeleteUserProfile", "ResourceNotFound")]
    created = next(e for e in events if e["detail"]["eventName"] == "CreateFileSystem")
    assert created["detail-type"] == "AWS API Call via CloudTrail"
    assert created["detail"]["awsRegion"] == REGION
    assert created["detail"]["requestParameters"] == {"creationToken": "events"}
    assert fs_id.startswith("fs-")


def test_events_stay_in_their_region_and_can_be_delayed(aws):
    east, west = _clients(aws), _clients(aws, "us-west-2")
    east_url = ensure_event_queue(east["sqs"], east["events"], [])
    west_url = ensure_event_queue(west["sqs"], west["events"], [])
    aws.set_cloudtrail_delay(1.0)
    started = time.monotonic()
    west["efs"].create_file_system(CreationToken="west")
    assert _events(east, east_url, wait=1) == []
    (event,) = _events(west, west_url, wait=5)
    assert time.monotonic() - started >= 1.0
    assert event["detail"]["awsRegion"] == "us-west-2"
