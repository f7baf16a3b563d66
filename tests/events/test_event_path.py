"""Changes made outside git are corrected within seconds through the event path
(EventBridge -> SQS -> a targeted pass), and still at the resync when the queue is down.

These run the real controller loop on the system clock, with its listener thread, against
the emulator, which delivers a CloudTrail event for every SageMaker and EFS call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from controller.clock import SystemClock
from controller.desired import load_desired_state
from controller.events import QUEUE_NAME
from controller.events.listener import EventInbox, EventListener
from controller.gateway import AwsGateway
from controller.loop.controller import Controller, Timing
from controller.loop.factory import make_reconciler
from controller.loop.reconciler import PassResult, Reconciler
from controller.source import FolderSource
from tests.converge.helpers import REGION, plan_now, prepared
from tests.example_estate import copy_example

SETTLE = 30.0  # seconds allowed for the first convergence


@dataclass
class Running:
    controller: Controller
    reconciler: Reconciler
    listener: EventListener
    passes: list[PassResult]


def _sagemaker(aws):
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)


def _research(aws) -> str:
    return next(d["DomainId"] for d in _sagemaker(aws).list_domains()["Domains"]
                if d["DomainName"] == "research")


def _uid(aws, name: str = "bob") -> int | None:
    try:
        described = _sagemaker(aws).describe_user_profile(DomainId=_research(aws),
                                                          UserProfileName=name)
    except _sagemaker(aws).exceptions.ResourceNotFound:
        return None
    return int(described["UserSettings"]["CustomPosixUserConfig"]["Uid"])


def _wait(condition, seconds: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


@contextmanager
def running(aws, tmp_path: Path, resync_seconds: float) -> Iterator[Running]:
    folder = copy_example(tmp_path / "desired")
    desired = prepared(aws, load_desired_state(folder))
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    clock = SystemClock()
    rec = make_reconciler(gateway, REGION, aws.efs_root, clock)
    inbox = EventInbox()
    queue = gateway.client("sqs", REGION).get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    listener = EventListener(gateway, REGION, queue, inbox, wait_seconds=1)
    passes: list[PassResult] = []

    controller = Controller(FolderSource(folder), rec, clock,
                            Timing(resync_seconds=resync_seconds, poll_seconds=600,
                                   follow_up_seconds=0.2), on_pass=passes.append, events=inbox)
    thread = threading.Thread(target=controller.run, daemon=True)
    listener.start()
    thread.start()
    try:
        assert _wait(lambda: bool(passes) and not plan_now(aws, desired).actions, SETTLE), (
            "the example did not converge")
        yield Running(controller, rec, listener, passes)
    finally:
        controller.stop()
        listener.stop()
        thread.join(10)


def _after_a_quiet_pass(run: Running) -> None:
    """Wait until the controller's last full pass changed nothing (its next one is a
    resync away, not a follow-up away: under load a follow-up pass, which lists the
    region, could otherwise still be running when a test starts counting calls)."""
    resync = run.controller.timing.resync_seconds
    assert _wait(lambda: run.controller.seconds_to_full_pass() > resync / 2, SETTLE), (
        "no full pass that changed nothing")
    time.sleep(1.5)  # its own calls' events, handled by targeted passes


def test_a_console_change_is_corrected_within_seconds_through_the_event_path(aws, tmp_path):
    with running(aws, tmp_path, resync_seconds=600) as run:
        _after_a_quiet_pass(run)
        run.reconciler.gateway.reset_counts()
        _sagemaker(aws).update_user_profile(
            DomainId=_research(aws), UserProfileName="bob",
            UserSettings={"CustomPosixUserConfig": {"Uid": 345678, "Gid": 1001}})
        took = _wait(lambda: _uid(aws) == 200102, 10)
        assert took is not None, "not corrected within 10 s (the resync is 600 s away)"
        calls = {op for (_, op, _) in run.reconciler.gateway.calls}
        # A targeted pass: bob described and put back; no listing of the region.
        assert {"DescribeUserProfile", "UpdateUserProfile"} <= calls
        assert "ListUserProfiles" not in calls and "ListDomains" not in calls


def test_a_profile_deleted_in_the_console_is_made_again_through_the_event_path(aws, tmp_path):
    with running(aws, tmp_path, resync_seconds=600) as run:
        _after_a_quiet_pass(run)
        _sagemaker(aws).delete_user_profile(DomainId=_research(aws), UserProfileName="carol")
        assert _wait(lambda: _uid(aws, "carol") == 200103, 15) is not None


def test_with_the_queue_down_the_change_waits_for_the_resync(aws, tmp_path):
    with running(aws, tmp_path, resync_seconds=12) as run:
        aws.set_faults(1.0, kinds=("5xx",), services={"sqs"})
        _after_a_quiet_pass(run)
        _sagemaker(aws).update_user_profile(
            DomainId=_research(aws), UserProfileName="bob",
            UserSettings={"CustomPosixUserConfig": {"Uid": 345678, "Gid": 1001}})
        assert _wait(lambda: _uid(aws) == 200102, 4) is None, "corrected without events?"
        assert run.listener.up is False
        assert _wait(lambda: _uid(aws) == 200102, 20) is not None, "not at the resync either"


@pytest.mark.parametrize("body", ["not json", '{"detail-type": "Scheduled Event"}'])
def test_a_message_that_is_no_such_event_is_left_for_the_dead_letter_queue(aws, tmp_path,
                                                                            body):
    folder = copy_example(tmp_path / "desired")
    prepared(aws, load_desired_state(folder))
    gateway = AwsGateway(endpoint_url=aws.endpoint_url, max_attempts=2)
    sqs = gateway.client("sqs", REGION)
    queue = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=body)
    inbox = EventInbox()
    listener = EventListener(gateway, REGION, queue, inbox, wait_seconds=1)
    assert listener.poll_once() == 1 and len(inbox) == 0
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # read, not deleted
    assert "deadLetterTargetArn" in attributes["RedrivePolicy"]
