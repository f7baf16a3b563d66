"""Logs: one JSON object per line for everything the process logs (the controller's own
events and standard-library loggers such as botocore's), each with a `logger` field;
exceptions with their traceback; standing by is not a warning; no credentials, ever."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from controller.clock import ManualClock
from controller.gateway import AwsGateway
from controller.logs import configure, get_logger
from controller.loop.controller import Controller, Timing
from controller.loop.factory import make_reconciler
from controller.loop.lease import Lease
from controller.source import FolderSource
from tests.converge.helpers import REGION, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
ACCESS_KEY = "AKIASTUDIOOPERATORLOG"
SECRET_KEY = "Secret/NeverInTheLogs+0123456789abcdefABCDEF"
SESSION_TOKEN = "SessionTokenNeverInTheLogs0123456789"


def _events(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    return events


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    configure(level="info", json=True)


def test_botocore_retries_come_out_as_json_with_the_logger_that_wrote_them(aws, capsys):
    configure(level="debug", json=True)
    aws.set_faults(rate=1.0, kinds=("throttle",), operations={"DescribeFileSystems"})
    efs = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=3).client("efs", REGION)
    with pytest.raises(efs.exceptions.ThrottlingException):
        efs.describe_file_systems()
    events = _events(capsys.readouterr().err)
    retries = [e for e in events if e["logger"].startswith("botocore.retries")]
    assert len(retries) >= 2, "botocore said it retries, as JSON"
    assert all({"event", "level", "timestamp", "logger"} <= set(e) for e in events)


def test_every_controller_event_names_its_logger(capsys):
    configure(json=True)
    get_logger(region=REGION).info("something_happened", count=1)
    (event,) = _events(capsys.readouterr().err)
    assert event["logger"] == __name__
    assert event["event"] == "something_happened" and event["level"] == "info"


def test_a_failed_pass_logs_its_traceback(capsys):
    configure(json=True)
    clock = ManualClock()
    # Nothing listens on port 1: observing the region fails, so the whole pass does.
    gateway = AwsGateway(endpoint_url="http://127.0.0.1:1", max_attempts=1)
    controller = Controller(FolderSource(EXAMPLE),
                            make_reconciler(gateway, REGION, None, clock, with_status=False),
                            clock, Timing(resync_seconds=300, poll_seconds=300))
    assert controller.tick() is None
    (failed,) = [e for e in _events(capsys.readouterr().err) if e["event"] == "pass_failed"]
    assert failed["level"] == "error"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert "EndpointConnectionError" in failed["exception"]


def test_a_standard_library_exception_keeps_its_traceback(capsys):
    configure(json=True)
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("some.library").exception("it broke")
    (event,) = _events(capsys.readouterr().err)
    assert event["logger"] == "some.library" and event["level"] == "error"
    assert "KeyError: 'missing'" in event["exception"]


def test_standing_by_is_information_not_a_warning(aws, capsys):
    configure(json=True)
    clock = ManualClock()
    reconciler(aws, clock)  # makes the status table
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    assert Lease(gateway, REGION, "studio-operator-status", clock, "a").hold()
    assert not Lease(gateway, REGION, "studio-operator-status", clock, "b").hold()
    (standing_by,) = [e for e in _events(capsys.readouterr().err)
                      if e["event"] == "standing_by"]
    assert standing_by["level"] == "info" and standing_by["leader"] == "a"


def test_credentials_never_reach_the_logs_even_with_wire_logging_on(aws, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    configure(level="debug", json=True)
    # Someone turns botocore's own wire logging on (signing, headers, bodies).
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    aws.set_faults(rate=0.5, kinds=("throttle",), operations={"ListDomains"}, seed=3)
    sagemaker = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=5).client(
        "sagemaker", REGION)
    sagemaker.list_domains()
    err = capsys.readouterr().err
    events = _events(err)
    assert any(e["logger"].startswith("botocore.auth") for e in events), (
        "the signing steps were logged (and must be redacted)")
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in err
