"""Injected AWS failures and per-operation request counts, for reliability tests.

On the configured share of matching requests the emulator answers what AWS answers
when it is overloaded or broken, in each protocol's own shape: throttling (400
ThrottlingException for JSON services, 429 for EFS, 503 RequestLimitExceeded for EC2,
400 Throttling for IAM/STS, 503 SlowDown for S3), server errors (500/503), or a
connection that hangs and is dropped. Draws come from a seeded generator, so a test
sees the same faults on the same sequence of calls. A plan may target regions (the calls
signed for them): a region whose every call fails with a server error or a dropped
connection is down, which the EFS extension also honours for what one region does in
another (`region_down`). Control and /moto-api calls are never faulted or counted. This
module must not decide how requests are served.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from controller.emulator.protocol import AwsRequest, Reply, error_reply

FAULT_KINDS = ("throttle", "5xx", "timeout")
# (status, code, message) per protocol for "throttle".
THROTTLING = {
    "json": (400, "ThrottlingException", "Rate exceeded"),
    "smithy-rpc-v2-cbor": (400, "ThrottlingException", "Rate exceeded"),
    "rest-json": (429, "ThrottlingException", "Rate exceeded"),
    "query": (400, "Throttling", "Rate exceeded"),
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "rest-xml": (503, "SlowDown", "Please reduce your request rate."),
}
SERVER_ERRORS = {
    "json": ((500, "InternalFailure"), (503, "ServiceUnavailable")),
    "smithy-rpc-v2-cbor": ((500, "InternalFailure"), (503, "ServiceUnavailable")),
    "rest-json": ((500, "InternalServerError"), (503, "ServiceUnavailable")),
    "query": ((500, "InternalFailure"), (503, "ServiceUnavailable")),
    "ec2": ((500, "InternalError"), (503, "Unavailable")),
    "rest-xml": ((500, "InternalError"), (503, "ServiceUnavailable")),
}


@dataclass(frozen=True)
class FaultPlan:
    rate: float
    kinds: tuple[str, ...]
    services: frozenset[str] | None
    operations: frozenset[str] | None
    seed: int
    timeout_seconds: float
    regions: frozenset[str] | None = None

    def matches(self, request: AwsRequest) -> bool:
        if self.services is not None and request.service not in self.services:
            return False
        if self.regions is not None and request.region not in self.regions:
            return False
        # Operations may be named bare ("ListUserProfiles") or qualified
        # ("sagemaker:ListUserProfiles").
        return self.operations is None or bool({request.operation, request.key} & self.operations)


@dataclass(frozen=True)
class Fault:
    kind: str
    reply: Reply | None  # None for "timeout": nothing is ever answered
    delay_seconds: float = 0.0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: FaultPlan | None = None
        self._random = random.Random(0)
        self.injected: Counter[str] = Counter()

    def set(
        self,
        rate: float,
        kinds: Iterable[str] = ("throttle", "5xx"),
        services: Iterable[str] | None = None,
        operations: Iterable[str] | None = None,
        seed: int = 0,
        timeout_seconds: float = 1.0,
        regions: Iterable[str] | None = None,
    ) -> None:
        kinds = tuple(kinds)
        unknown = set(kinds) - set(FAULT_KINDS)
        if not 0.0 <= rate <= 1.0 or not kinds or unknown:
            raise ValueError(
                f"rate must be in [0, 1] and kinds a non-empty subset of {FAULT_KINDS}"
            )
        plan = FaultPlan(
            rate=rate,
            kinds=kinds,
            services=frozenset(services) if services is not None else None,
            operations=frozenset(operations) if operations is not None else None,
            seed=seed,
            timeout_seconds=timeout_seconds,
            regions=frozenset(regions) if regions is not None else None,
        )
        with self._lock:
            self._plan = plan
            self._random = random.Random(seed)
            self.injected.clear()

    def clear(self) -> None:
        with self._lock:
            self._plan = None
            self.injected.clear()

    def describe(self) -> dict[str, object]:
        with self._lock:
            plan = self._plan
            if plan is None:
                return {"active": False, "injected": dict(self.injected)}
            return {
                "active": True,
                "rate": plan.rate,
                "kinds": list(plan.kinds),
                "seed": plan.seed,
                "services": sorted(plan.services) if plan.services is not None else None,
                "operations": sorted(plan.operations) if plan.operations is not None else None,
                "timeout_seconds": plan.timeout_seconds,
                "regions": sorted(plan.regions) if plan.regions is not None else None,
                "injected": dict(self.injected),
            }

    def region_down(self, region: str, service: str = "efs") -> bool:
        """True while every call `service` gets in `region` fails as an outage does (a
        server error or a dropped connection, not throttling), for every operation."""
        with self._lock:
            plan = self._plan
        return (plan is not None and plan.rate >= 1.0 and plan.regions is not None
                and region in plan.regions and plan.operations is None
                and (plan.services is None or service in plan.services)
                and "throttle" not in plan.kinds)

    def decide(self, request: AwsRequest) -> Fault | None:
        with self._lock:
            plan = self._plan
            if plan is None or not plan.matches(request):
                return None
            if self._random.random() >= plan.rate:
                return None
            kind = self._random.choice(plan.kinds)
            variant = self._random.random()
            self.injected[kind] += 1
        if kind == "timeout":
            return Fault(kind, None, plan.timeout_seconds)
        if kind == "throttle":
            return Fault(kind, throttling_reply(request.protocol))
        protocol = request.protocol if request.protocol in THROTTLING else "json"
        status, code = SERVER_ERRORS[protocol][0 if variant < 0.5 else 1]
        message = (
            "We encountered an internal error. Please try again."
            if status == 500
            else ("Service is unavailable. Please try again later.")
        )
        return Fault(kind, error_reply(protocol, code, message, status))


def throttling_reply(protocol: str) -> Reply:
    """What a throttled call is answered, in its protocol's shape (also the latency and
    rate model's answer when a token bucket is empty: pacing.py)."""
    protocol = protocol if protocol in THROTTLING else "json"
    status, code, message = THROTTLING[protocol]
    return error_reply(protocol, code, message, status)


class RequestCounter:
    """AWS API calls received, keyed "service:Operation" (retries count: AWS sees them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
