"""Shared test setup: fake AWS credentials and the local AWS emulator.

No test may reach AWS. The environment is pointed at fake credentials before any boto3
client exists, and the `aws` fixture hands each test a freshly reset emulator (moto in
server mode plus controller.emulator's extensions) on a free loopback port, started
once per session (about a second) and reset between tests (a few milliseconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from controller.emulator import Emulator, start_emulator

# Set at import time, before any test module makes a boto3 client or session.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Nothing from the developer's own AWS set-up may leak in.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The session's emulator; tests normally use `aws`, which resets it first."""
    emu = start_emulator(tmp_path_factory.mktemp("aws"))
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def aws(emulator: Emulator) -> Iterator[Emulator]:
    """A freshly reset emulator: no AWS resources, empty EFS folders, no faults, zero counts."""
    emulator.reset()
    yield emulator
    from tests.converge.helpers import stop_snapshot_jobs

    emulator.clear_faults()  # first: a job inside a hanging call gets its answer
    stop_snapshot_jobs()  # none runs on into the next test's emulator
