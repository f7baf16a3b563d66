"""Fixtures for the emulator's own tests: real boto3 clients and a ready network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from controller.emulator import Emulator
from tests.emulator.helpers import Network, make_network

MakeClient = Callable[..., BaseClient]
# One boto3 session per set of credentials for the whole run: a new session would load
# each service's model again (about 0.3 s for EC2).
_SESSIONS: dict[tuple[tuple[str, Any], ...], boto3.session.Session] = {}


@pytest.fixture
def client(aws: Emulator) -> MakeClient:
    """boto3 clients on the emulator; a low retry budget so gaps fail fast."""

    def make(
        service: str, region: str = "us-east-1", attempts: int = 3, **session: Any
    ) -> BaseClient:
        key = tuple(sorted(session.items()))
        if key not in _SESSIONS:
            _SESSIONS[key] = boto3.session.Session(**session)
        return _SESSIONS[key].client(
            service,
            region_name=region,
            endpoint_url=aws.endpoint_url,
            # total attempts: 3 is botocore's {"max_attempts": 2} (two retries)
            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
        )

    return make


@pytest.fixture
def network(client: MakeClient) -> Network:
    return make_network(client("ec2"), ("us-east-1a", "us-east-1b"))
