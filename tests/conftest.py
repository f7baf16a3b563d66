"""Shared test setup: fake AWS credentials and the local AWS emulator.

No test may reach AWS. The environment is pointed at fake credentials before any boto3
client exists, and the `aws` fixture hands each test a freshly reset emulator (moto in
server mode plus controller.emulator's extensions) on a free loopback port, started
once per session (about a second) and reset between tests (a few milliseconds).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import botocore.loaders
import botocore.session
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


class _Paths(list[str]):
    """A search path list that takes each folder once: boto3 appends its own to the loader
    of every session it makes, and here the loader is shared."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    loader = botocore.loaders.create_loader(search_path_string)
    loader._search_paths = _Paths(loader.search_paths)
    return loader


# Every boto3 session gets a botocore loader of its own, which parses each service's model
# JSON again (SageMaker's is megabytes): a third of an example-estate converge went there,
# as tests make new gateways and sessions all the time. One loader per process, as within
# one session, parses each model once. Only the parsing is shared; clients, credentials and
# endpoints stay per session. (A controller makes its sessions once: nothing to share.)
botocore.session.create_loader = _shared_loader


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
