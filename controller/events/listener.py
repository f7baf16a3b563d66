"""The event listener: a thread that long-polls the region's SQS queue and hands each
event's key to the controller (controller.events.keys), which looks again soon.

It only enqueues keys, and reads only while its replica leads. Messages it read and
keyed (or found to concern nothing here) are deleted; a message that is no event of the
rule's kind is left, to reach the queue's dead-letter queue after its receive count.
When the queue cannot be read (down, denied, deleted) the listener says so once, marks
the queue down in /metrics and tries again with a growing pause: the periodic resync
stays the floor, so nothing is lost but time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from controller.events.keys import EventKey, MalformedEvent, key_of
from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.metrics import EVENT_QUEUE_UP, EVENTS

WAIT_SECONDS = 20  # SQS's longest long poll: one call per 20 s while nothing happens
MAX_PAUSE_SECONDS = 60.0
STANDBY_PAUSE_SECONDS = 2.0


class EventInbox:
    """Keys waiting for the controller; putting one wakes the controller's loop."""

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._lock = threading.Lock()
        self._keys: dict[EventKey, None] = {}
        self.wake = wake or threading.Event()

    def put(self, key: EventKey) -> None:
        with self._lock:
            self._keys[key] = None
        self.wake.set()

    def drain(self) -> list[EventKey]:
        with self._lock:
            keys, self._keys = list(self._keys), {}
        return keys

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


class EventListener:
    def __init__(self, gateway: AwsGateway, region: str, queue_url: str, inbox: EventInbox,
                 wait_seconds: int = WAIT_SECONDS,
                 sleep: Callable[[float, threading.Event], None] | None = None,
                 leading: Callable[[], bool] = lambda: True) -> None:
        self.gateway = gateway
        self.region = region
        self.queue_url = queue_url
        self.inbox = inbox
        self.wait_seconds = wait_seconds
        self.stopping = threading.Event()
        self._sleep = sleep or (lambda seconds, stop: stop.wait(seconds) and None)
        self._thread = threading.Thread(target=self._run, name=f"events-{region}", daemon=True)
        self.log = get_logger(region=region)
        self.up: bool | None = None
        # Only the replica that leads reads the queue: a message another replica read
        # (and deleted) would never reach the one that acts.
        self.leading = leading

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    def poll_once(self) -> int:
        """One receive (long poll), its keys handed over; returns the messages read."""
        sqs = self.gateway.client("sqs", self.region)
        response = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=self.wait_seconds)
        done: list[dict[str, str]] = []
        messages: list[dict[str, Any]] = response.get("Messages", [])
        for message in messages:
            try:
                key = key_of(str(message.get("Body", "")), self.region)
            except MalformedEvent as error:
                EVENTS.labels("malformed").inc()
                self.log.warning("event_malformed", message_id=message.get("MessageId"),
                                 error=str(error)[:200])
                continue
            if key is None:
                EVENTS.labels("ignored").inc()
            else:
                EVENTS.labels("enqueued").inc()
                self.inbox.put(key)
            done.append({"Id": str(len(done)), "ReceiptHandle": message["ReceiptHandle"]})
        if done:
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)
        return len(messages)

    def _run(self) -> None:
        pause = 1.0
        while not self.stopping.is_set():
            if not self.leading():
                self._sleep(STANDBY_PAUSE_SECONDS, self.stopping)
                continue
            try:
                self.poll_once()
            except Exception as error:  # the queue down: resync is the floor meanwhile
                self._mark(False, f"{type(error).__name__}: {error}")
                self._sleep(pause, self.stopping)
                pause = min(MAX_PAUSE_SECONDS, pause * 2)
                continue
            self._mark(True)
            pause = 1.0

    def _mark(self, up: bool, error: str = "") -> None:
        EVENT_QUEUE_UP.set(1 if up else 0)
        if up == self.up:
            return
        self.up = up
        if up:
            self.log.info("event_queue_reading", queue=self.queue_url)
        else:
            self.log.warning("event_queue_unreadable", queue=self.queue_url, error=error[:300],
                             message="changes made outside git are noticed at the next "
                                     "resync until it is back")
