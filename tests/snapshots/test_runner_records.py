"""The jobs of one SnapshotPolicy end on several threads and each records its end in the
policy's one record: no end may be lost to another's write (a job whose "Complete" is
lost stays "Uploading" in the table, and the next pass takes its snapshot again).
Against the emulator's DynamoDB, with thread switches forced often to expose the race."""

from __future__ import annotations

import sys
import threading

from controller.actions.snapshots import _end
from controller.clock import ManualClock
from controller.gateway import AwsGateway
from controller.snapshots.runner import SnapshotRunner
from controller.status.store import DynamoStatusStore

THREADS, ENDS = 8, 25


def test_jobs_ending_at_once_each_keep_their_end_in_the_policy_record(aws):
    gateway = AwsGateway(endpoint_url=aws.endpoint_url)
    store = DynamoStatusStore(gateway, "us-east-1", "runner-records")
    store.ensure_table()
    runner = SnapshotRunner(gateway, "us-east-1", None, store, ManualClock(0.0))
    pk = "snapshotpolicy#nightly"
    runner.save({"pk": pk, "lastSlot": "1", "jobs": {
        f"home/{t}/{n}": {"phase": "Uploading"} for t in range(THREADS) for n in range(ENDS)}})
    start = threading.Barrier(THREADS)

    def end_all(thread: int) -> None:
        start.wait()
        for n in range(ENDS):
            _end(runner, pk, f"home/{thread}/{n}", "Complete", "ok")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # a switch between any two steps, as under heavy load
    try:
        threads = [threading.Thread(target=end_all, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        runner.stop()
    for record in (runner.record(pk), store.get_item(pk)):
        still = sorted(k for k, job in record["jobs"].items() if job["phase"] != "Complete")
        assert still == [], f"{len(still)} ends lost, e.g. {still[:3]}"
