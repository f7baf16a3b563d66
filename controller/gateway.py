"""The one place that makes boto3 clients.

Every AWS call the controller makes goes through a client built here: per service and
region, from one injected session factory, with botocore's own retry modes (no
hand-written retry loops), honouring AWS_ENDPOINT_URL or an explicit endpoint (the local
emulator), and with every call counted by service, operation and outcome, both for
Prometheus and for callers that want to know what a pass cost.

Nothing outside this module imports boto3 or creates clients; readers and executors ask
the gateway for a client. It must not hold any domain logic.

A loopback endpoint is the local emulator: when no credentials are configured at all (a
new terminal), clients use the emulator's dummy ones rather than fail with "Unable to
locate credentials". Never for any other endpoint.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from prometheus_client import Counter as PromCounter

from controller.service_models import compact

AWS_CALLS = PromCounter(
    "studio_operator_aws_calls",
    "AWS API calls made by the controller, by service, operation and outcome "
    "(ok, or the AWS error code, or a transport error class).",
    ["service", "operation", "outcome"],
)

SessionFactory = Callable[[], boto3.session.Session]

# What the local emulator accepts (any credentials do; these are the conventional ones).
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class AwsGateway:
    """Hands out cached, instrumented boto3 clients, safe to share between threads.

    `max_attempts` and `retry_mode` go straight to botocore: "standard" retries
    throttling, 5xx and transient connection errors with exponential backoff and jitter;
    "adaptive" (the default) adds client-side rate limiting: after a throttling error
    the client's sending rate is cut and then grown back (CUBIC), and every call waits
    for a token of that rate. There is one client per service and region, shared by all
    the workers of a pass, so the workers share that rate: concurrent actions slow down
    together when AWS throttles. It is botocore's own, kept by AWS across its SDKs,
    rather than a token bucket of ours.
    """

    def __init__(
        self,
        session_factory: SessionFactory = boto3.session.Session,
        endpoint_url: str | None = None,
        retry_mode: str = "adaptive",
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._session_factory = session_factory
        self._session: boto3.session.Session | None = None
        self.endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=32,
            user_agent_extra="studio-operator",
        )
        self._clients: dict[tuple[str, str], BaseClient] = {}
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str, str]] = Counter()

    def client(self, service: str, region: str) -> Any:
        """A client for `service` in `region` (created once, then reused)."""
        key = (service, region)
        with self._lock:
            existing = self._clients.get(key)
            if existing is not None:
                return existing
            if self._session is None:
                self._session = self._session_factory()
                if (_is_loopback(self.endpoint_url)
                        and self._session.get_credentials() is None):
                    self._session = boto3.session.Session(
                        region_name=self._session.region_name, **EMULATOR_CREDENTIALS)
                # Models parsed compactly: about half the memory (controller.service_models).
                compact(self._session)
            kwargs: dict[str, Any] = {"region_name": region, "config": self._config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            created = self._session.client(service, **kwargs)  # type: ignore[call-overload]
            created.meta.events.register("after-call.*.*", self._after_call)
            created.meta.events.register("after-call-error.*.*", self._after_call_error)
            self._clients[key] = created
            return created

    def total_calls(self, *, mutating_only: bool = False) -> int:
        """Calls counted so far; with mutating_only, those not named Describe/List/Get."""
        with self._lock:  # workers count calls meanwhile
            counted = list(self.calls.items())
        return sum(
            count
            for (_, operation, _), count in counted
            if not mutating_only or not operation.startswith(_READ_PREFIXES)
        )

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def _record(self, service: str, operation: str, outcome: str) -> None:
        with self._lock:
            self.calls[(service, operation, outcome)] += 1
        AWS_CALLS.labels(service, operation, outcome).inc()

    def _after_call(self, http_response: Any, parsed: dict[str, Any], model: Any,
                    **_: Any) -> None:
        service = model.service_model.service_name
        outcome = "ok"
        if http_response.status_code >= 300:
            outcome = parsed.get("Error", {}).get("Code") or f"http_{http_response.status_code}"
        self._record(service, model.name, outcome)

    def _after_call_error(self, exception: BaseException, event_name: str = "",
                          **kwargs: Any) -> None:
        # event_name is "after-call-error.<service-id>.<Operation>"
        qualified = event_name.partition(".")[2]
        service, _dot, operation = qualified.rpartition(".")
        self._record(service or "unknown", operation or "unknown", type(exception).__name__)


_READ_PREFIXES = ("Describe", "List", "Get", "Search")


def _is_loopback(endpoint_url: str | None) -> bool:
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
