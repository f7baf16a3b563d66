"""What the controller stack makes for events, made in the emulator for local mode: the
region's event queue (with its dead-letter queue) and the EventBridge rule that sends
SageMaker and EFS API calls (via CloudTrail) to it; and what the stack assumes the
account has: a multi-region CloudTrail trail that logs management events (EventBridge
gets "AWS API Call via CloudTrail" events only for what a logging trail records).

The rule's pattern is the one infra/cloudformation/studio-operator-controller.yaml
gives (tests/deployment compares them). Idempotent: what exists is kept.
"""

from __future__ import annotations

import json
from typing import Any

from controller.events import QUEUE_NAME

DEAD_LETTER_QUEUE_NAME = "studio-operator-events-dlq"
RULE_NAME = "studio-operator-api-calls"
EVENT_PATTERN = {
    "source": ["aws.sagemaker", "aws.elasticfilesystem"],
    "detail-type": ["AWS API Call via CloudTrail"],
    "detail": {"eventSource": ["sagemaker.amazonaws.com", "elasticfilesystem.amazonaws.com"]},
}
MAX_RECEIVE_COUNT = 5
TRAIL_NAME = "studio-operator-local"
TRAIL_BUCKET = "studio-operator-local-trail"


def ensure_event_queue(sqs: Any, events: Any, lines: list[str]) -> str:
    """The queue's URL, after making the queue, its DLQ and the rule if missing."""
    try:
        url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        lines.append(f"found event queue {QUEUE_NAME}")
        return str(url)
    except sqs.exceptions.QueueDoesNotExist:
        pass
    dead = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME,
                            Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dead_arn = _arn(sqs, dead)
    url = sqs.create_queue(QueueName=QUEUE_NAME, Attributes={
        "MessageRetentionPeriod": "86400",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn,
                                     "maxReceiveCount": str(MAX_RECEIVE_COUNT)})})["QueueUrl"]
    events.put_rule(Name=RULE_NAME, EventPattern=json.dumps(EVENT_PATTERN), State="ENABLED",
                    Description="SageMaker and EFS API calls, to the operator's event queue")
    events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "event-queue", "Arn": _arn(sqs, url)}])
    lines.append(f"created event queue {QUEUE_NAME} (dead letters: "
                 f"{DEAD_LETTER_QUEUE_NAME}) and rule {RULE_NAME}")
    return str(url)


def _arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def ensure_trail(s3: Any, cloudtrail: Any, lines: list[str]) -> None:
    """A logging multi-region trail (and its bucket), unless one of that name exists."""
    if any(t["Name"] == TRAIL_NAME for t in cloudtrail.describe_trails()["trailList"]):
        lines.append(f"found cloudtrail trail {TRAIL_NAME}")
        return
    create_bucket(s3, TRAIL_BUCKET)
    cloudtrail.create_trail(Name=TRAIL_NAME, S3BucketName=TRAIL_BUCKET,
                            IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name=TRAIL_NAME)
    lines.append(f"created cloudtrail trail {TRAIL_NAME} (all regions, management events)")


def create_bucket(s3: Any, bucket: str) -> None:
    """A bucket in the client's region: outside us-east-1, S3 refuses a CreateBucket
    without the region as its LocationConstraint (IllegalLocationConstraintException)."""
    region = s3.meta.region_name
    extra = ({} if region == "us-east-1" else
             {"CreateBucketConfiguration": {"LocationConstraint": region}})
    s3.create_bucket(Bucket=bucket, **extra)
