"""CloudTrail events for calls made against the emulator, delivered to EventBridge.

On AWS, CloudTrail records every management call and sends the ones that change
something to EventBridge's default bus as "AWS API Call via CloudTrail" events (source
aws.<service>, detail with eventSource, eventName, awsRegion, requestParameters, ...),
where rules route them on (to an SQS queue, for the operator). moto has EventBridge and
SQS but no CloudTrail: this module makes the event for each SageMaker and EFS call that
is not a read (Describe, List, Get, Search), failed calls included (with errorCode, as
CloudTrail records them), and puts it on the calling region's default bus through
moto's own API, in process, after `delay_seconds` (CloudTrail's delivery is neither
instant nor guaranteed in order). Delivery runs on a daemon thread: a call never waits
for its event. Request parameter names are written as CloudTrail writes them (first
letter lower case). This module must not decide anything about the resources.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsRequest

DETAIL_TYPE = "AWS API Call via CloudTrail"
# boto3 service name -> (EventBridge source, CloudTrail eventSource)
SOURCES = {"sagemaker": ("aws.sagemaker", "sagemaker.amazonaws.com"),
           "efs": ("aws.elasticfilesystem", "elasticfilesystem.amazonaws.com")}
_READS = ("Describe", "List", "Get", "Search")


class CloudTrail:
    def __init__(self, gateway: MotoGateway, delay_seconds: Callable[[], float]) -> None:
        self._gateway = gateway
        self.enabled = True
        self._delay = delay_seconds
        self._pending: queue.Queue[tuple[float, str, str, dict[str, Any]] | None] = (
            queue.Queue())
        self._thread = threading.Thread(target=self._deliver, name="cloudtrail", daemon=True)
        self._started = False
        self.delivered = 0

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def stop(self) -> None:
        self._pending.put(None)

    def wants(self, request: AwsRequest) -> bool:
        return (self.enabled and request.service in SOURCES
                and not request.operation.startswith(_READS))

    def record(self, request: AwsRequest, status: int, answer: bytes) -> None:
        """The call just answered, as CloudTrail would record it (reads are not sent)."""
        if not self.wants(request):
            return
        source, event_source = SOURCES[request.service]
        account = self._gateway.account_of(request.access_key,
                                           request.headers.get("x-moto-account-id"))
        detail: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": account,
                             "accessKeyId": request.access_key},
            "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": event_source,
            "eventName": request.operation,
            "awsRegion": request.region,
            "sourceIPAddress": request.environ.get("REMOTE_ADDR", "127.0.0.1"),
            "userAgent": request.headers.get("User-Agent", ""),
            "requestParameters": _parameters(request),
            "responseElements": None,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
        if status >= 300:
            detail["errorCode"], detail["errorMessage"] = _error(answer, status)
        self._pending.put((time.monotonic() + self._delay(), request.region, account,
                           {"Source": source, "DetailType": DETAIL_TYPE,
                            "Detail": json.dumps(detail)}))

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every event recorded so far has been delivered (for tests)."""
        deadline = time.monotonic() + timeout
        while not self._pending.empty() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _deliver(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            due, region, account, entry = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self._gateway.client("events", region, account).put_events(Entries=[entry])
                self.delivered += 1
            except Exception:  # noqa: S112 - best effort, as CloudTrail's delivery is
                continue


def _parameters(request: AwsRequest) -> dict[str, Any] | None:
    try:
        body = request.json() if request.body else {}
    except ValueError:
        body = {}
    params: dict[str, Any] = {**(body if isinstance(body, dict) else {}),
                              **request.path_params}
    return _lower_first(params) if params else None


def _lower_first(value: Any) -> Any:
    if isinstance(value, dict):
        return {(k[:1].lower() + k[1:]) if isinstance(k, str) else k: _lower_first(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_first(v) for v in value]
    return value


def _error(answer: bytes, status: int) -> tuple[str, str]:
    try:
        loaded = json.loads(answer)
    except ValueError:
        return f"Http{status}", ""
    code = str(loaded.get("__type") or loaded.get("ErrorCode") or f"Http{status}")
    return code.rsplit("#", 1)[-1], str(loaded.get("message") or loaded.get("Message") or "")
