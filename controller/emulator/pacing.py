"""AWS at its own speed: how long each call takes, and when AWS would throttle it.

The emulator answers a call in a few milliseconds; AWS takes tens of milliseconds for a
read and hundreds for a create, and throttles each account's calls per region and per
API with token buckets. A controller that is fast here can still take minutes on AWS, so
the benchmarks and the drill turn this model on (the unit tests leave it off and run at
the emulator's own speed).

- Latency: each call sleeps its operation's time (first matching row of the table, then
  scaled, with a seeded jitter) in the thread serving it, never under a lock, so calls
  made at once overlap their latencies as they do on AWS.
- Rate limits: one token bucket per account, region and operation; a call that finds no
  token is answered at once with the service's own throttling error (the shape faults.py
  uses: 400 ThrottlingException for JSON services, 429 for EFS, 503 RequestLimitExceeded
  for EC2, ...), and is not served.

Where the numbers come from: AWS publishes no latencies, so every latency below is an
estimate (the orders of magnitude the AWS consoles and CLIs show: tens of ms to read,
hundreds to create, about a second for CreateDomain to return a Pending domain). Of the
rate limits only EC2's are documented (EC2 developer guide, "Request throttling for the
Amazon EC2 API": a non-mutating action such as DescribeHosts has a bucket of 100 tokens
refilled at 20 a second; mutating actions have smaller buckets, 50 refilled at 5 a second
here); SageMaker, EFS and IAM publish none, and their buckets are estimates of the same
shape. DynamoDB's data plane is limited by capacity, not by request rate, and has no
bucket. Every row can be overridden (Python API, control endpoint, `studioctl emulator`).

This module decides how long a call takes and whether it is throttled; it must not serve
requests or know about resources.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.emulator.faults import throttling_reply
from controller.emulator.protocol import AwsRequest, Reply

# (pattern "service:Operation" with * wildcards, seconds); the first match wins.
LATENCY_SECONDS: tuple[tuple[str, float], ...] = (
    ("sagemaker:CreateDomain", 1.0),  # returns once the domain is Pending
    ("sagemaker:Create*", 0.3),
    ("sagemaker:Update*", 0.25),
    ("sagemaker:Delete*", 0.2),
    ("sagemaker:List*", 0.08),
    ("sagemaker:*", 0.05),
    ("efs:Create*", 0.3),
    ("efs:Delete*", 0.2),
    ("efs:Describe*", 0.04),
    ("efs:*", 0.15),
    ("ec2:Describe*", 0.08),
    ("ec2:*", 0.2),
    ("dynamodb:CreateTable", 0.3),
    ("dynamodb:Describe*", 0.02),
    ("dynamodb:GetItem", 0.006),
    ("dynamodb:Query", 0.01),
    ("dynamodb:Scan", 0.02),
    ("dynamodb:BatchWriteItem", 0.015),
    ("dynamodb:*", 0.008),
    ("iam:*", 0.08),
    ("sts:*", 0.03),
    ("cloudwatch:*", 0.05),
    ("*:Describe*", 0.05),
    ("*:List*", 0.05),
    ("*:Get*", 0.05),
    ("*:*", 0.2),
)

# (pattern, (bucket capacity, tokens refilled per second)); None: never throttled.
RATE_LIMITS: tuple[tuple[str, tuple[float, float] | None], ...] = (
    ("ec2:Describe*", (100.0, 20.0)),  # documented (DescribeHosts, EC2 guide)
    ("ec2:*", (50.0, 5.0)),
    ("sagemaker:Describe*", (50.0, 20.0)),
    ("sagemaker:List*", (50.0, 20.0)),
    ("sagemaker:*", (50.0, 20.0)),
    ("efs:Describe*", (50.0, 20.0)),
    ("efs:*", (20.0, 5.0)),
    ("iam:*", (50.0, 20.0)),
    ("cloudwatch:*", (50.0, 20.0)),
    ("dynamodb:CreateTable", (10.0, 1.0)),
    ("*:*", None),
)
# A throttled call is refused before any work: about one round trip.
THROTTLED_SECONDS = 0.01


@dataclass(frozen=True)
class PacingPlan:
    """What the model does. Overrides are tried before the default tables."""

    latency: bool = True
    rate_limits: bool = True
    scale: float = 1.0  # every latency is multiplied by this (0.1: a ten times faster AWS)
    jitter: float = 0.2  # each latency is scaled by a factor in [1 - jitter, 1 + jitter]
    seed: int = 0
    latencies: tuple[tuple[str, float], ...] = ()
    rates: tuple[tuple[str, tuple[float, float] | None], ...] = ()

    def __post_init__(self) -> None:
        if self.scale < 0 or not 0 <= self.jitter < 1:
            raise ValueError("scale must be >= 0 and jitter in [0, 1)")
        for pattern, seconds in self.latencies:
            if seconds < 0:
                raise ValueError(f"latency for {pattern} must be >= 0")
        for pattern, limit in self.rates:
            if limit is not None and (limit[0] < 1 or limit[1] <= 0):
                raise ValueError(f"rate limit for {pattern}: capacity >= 1 and refill > 0")

    def latency_of(self, key: str) -> float:
        return _first(key, (*self.latencies, *LATENCY_SECONDS), 0.0)

    def limit_of(self, key: str) -> tuple[float, float] | None:
        return _first(key, (*self.rates, *RATE_LIMITS), None)


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass(frozen=True)
class Pace:
    """How to answer one call: wait `delay` seconds, then serve it or send `refusal`."""

    delay: float
    refusal: Reply | None = None


@dataclass
class Pacer:
    """The latency and rate model of one emulator; off until `set` is given a plan."""

    # The account a request is made for (rate limits are per account and region).
    account_of: Callable[[AwsRequest], str]
    clock: Callable[[], float] = time.monotonic
    _plan: PacingPlan | None = None
    _buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict)
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    throttled: Counter[str] = field(default_factory=Counter)

    def set(self, plan: PacingPlan | None) -> None:
        """A new plan (None: off), with full buckets and no throttles counted."""
        with self._lock:
            self._plan = plan
            self._buckets.clear()
            self._random = random.Random(plan.seed if plan else 0)
            self.throttled.clear()

    @property
    def plan(self) -> PacingPlan | None:
        return self._plan

    def decide(self, request: AwsRequest) -> Pace | None:
        """None when the model is off; else how long to wait and whether to refuse."""
        plan = self._plan
        if plan is None:
            return None
        limit = plan.limit_of(request.key) if plan.rate_limits else None
        account = self.account_of(request) if limit is not None else ""
        with self._lock:
            if limit is not None:
                bucket_key = (account, request.region, request.key)
                now = self.clock()
                bucket = self._buckets.get(bucket_key)
                if bucket is None:
                    bucket = self._buckets[bucket_key] = _Bucket(limit[0], limit[1], limit[0],
                                                                 now)
                if not bucket.take(now):
                    self.throttled[request.key] += 1
                    return Pace(THROTTLED_SECONDS * plan.scale,
                                throttling_reply(request.protocol))
            factor = self._random.uniform(1 - plan.jitter, 1 + plan.jitter)
        seconds = plan.latency_of(request.key) * plan.scale * factor if plan.latency else 0.0
        return Pace(seconds)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            plan = self._plan
            if plan is None:
                return {"enabled": False, "throttled": dict(self.throttled)}
            return {"enabled": True, "latency": plan.latency, "rate_limits": plan.rate_limits,
                    "scale": plan.scale, "jitter": plan.jitter, "seed": plan.seed,
                    "latencies": dict(plan.latencies),
                    "rates": {k: list(v) if v else None for k, v in plan.rates},
                    "throttled": dict(self.throttled)}


def plan_from(latency: bool = True, rate_limits: bool = True, scale: float = 1.0,
              jitter: float = 0.2, seed: int = 0,
              latencies: Mapping[str, float] | None = None,
              rates: Mapping[str, Iterable[float] | None] | None = None) -> PacingPlan:
    """A plan from plain values (the Python API's and the control endpoint's)."""
    return PacingPlan(
        latency=bool(latency), rate_limits=bool(rate_limits), scale=float(scale),
        jitter=float(jitter), seed=int(seed),
        latencies=tuple((str(k), float(v)) for k, v in (latencies or {}).items()),
        rates=tuple((str(k), _limit(v)) for k, v in (rates or {}).items()))


def _limit(value: Iterable[float] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    capacity, per_second = (float(v) for v in value)
    return capacity, per_second


def _first(key: str, table: Iterable[tuple[str, Any]], default: Any) -> Any:
    for pattern, value in table:
        if fnmatch.fnmatchcase(key, pattern):
            return value
    return default
