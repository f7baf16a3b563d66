"""From an EventBridge message (a CloudTrail "AWS API Call" event) to the key of what to
look at again. Pure.

The payload is never trusted: it only names what the controller should observe afresh
(level-triggered, as a controller-runtime watch enqueues a key, never the object). Only
the shape is read, only ids that look like ids are kept, and anything else about the
event (who made the call, what it set) is ignored: the reconcile that follows reads the
truth from AWS. A message that is not such an event is refused (MalformedEvent) and left
on the queue for its dead-letter queue; an event about another region, or about nothing
the controller keys, is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCES = {"aws.sagemaker": "sagemaker.amazonaws.com",
           "aws.elasticfilesystem": "elasticfilesystem.amazonaws.com"}
MAX_BODY = 256 * 1024  # SQS's and EventBridge's own limit
_DOMAIN_ID = re.compile(r"d-[a-z0-9]{12}")
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,40}")
_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:"
                  r"(user-profile|domain|space|app)/(d-[a-z0-9]{12})(?:/([^/]+))?")


class MalformedEvent(ValueError):  # noqa: N818 - a refusal, said plainly
    """Not an EventBridge event of the kind the rule sends."""


@dataclass(frozen=True)
class EventKey:
    """What an event says to look at: a profile (domain id and name), a domain (by id or,
    for CreateDomain, by name), a file system, or the region as a whole ("region")."""

    kind: str  # "profile", "domain", "file-system", "region"
    domain_id: str = ""
    name: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.kind, self.domain_id, self.name) if p)


REGION = EventKey("region")


def key_of(body: str, region: str) -> EventKey | None:
    """The key an event enqueues; None when it concerns nothing to look at here."""
    if len(body) > MAX_BODY:
        raise MalformedEvent(f"{len(body)} characters, over EventBridge's {MAX_BODY}")
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedEvent(f"not JSON: {error}") from None
    if not isinstance(event, dict) or event.get("detail-type") != DETAIL_TYPE or (
            event.get("source") not in SOURCES):
        raise MalformedEvent("not an AWS API Call via CloudTrail event from SageMaker or EFS")
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("eventSource") != SOURCES[event["source"]]:
        raise MalformedEvent("its detail is not a CloudTrail record of that service")
    if detail.get("awsRegion") != region:
        return None
    parameters = detail.get("requestParameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if event["source"] == "aws.elasticfilesystem":
        for name in ("fileSystemId", "sourceFileSystemId"):
            if _matches(_FILE_SYSTEM_ID, parameters.get(name)):
                return EventKey("file-system", name=parameters[name])
        return REGION
    return _sagemaker_key(str(detail.get("eventName", "")), parameters)


def _sagemaker_key(operation: str, parameters: dict[str, Any]) -> EventKey:
    arn = parameters.get("resourceArn")
    if isinstance(arn, str) and (found := _ARN.fullmatch(arn)):
        kind, domain_id, rest = found.groups()
        if kind == "user-profile" and _matches(_NAME, rest):
            return EventKey("profile", domain_id, rest)
        return EventKey("domain", domain_id)
    domain_id = parameters.get("domainId")
    if not _matches(_DOMAIN_ID, domain_id):
        name = parameters.get("domainName")
        if operation == "CreateDomain" and _matches(_NAME, name):
            return EventKey("domain", name=str(name))
        return REGION
    profile = parameters.get("userProfileName")
    if operation.endswith("UserProfile") and _matches(_NAME, profile):
        return EventKey("profile", str(domain_id), str(profile))
    # Apps, spaces and the domain itself: looked at with the domain.
    return EventKey("domain", str(domain_id))


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
