"""A recreated profile's old home restored into its new one by a worker task when the
domain's file system is not mounted where the controller runs: its new home not made
yet makes it wait (not fail), the job is recorded in the homerestore# record before the
task starts, and the restore happens once, owned by the new uid. Against the emulator,
with real folders."""

from __future__ import annotations

import os

from tests.converge.test_recreation import (
    _converged,
    _domain,
    _home,
    _recreate_bob_behind_the_operators_back,
)
from tests.snapshots.test_restore_on_worker import estate_workers, unmounted_reconciler


def test_a_recreated_home_is_restored_by_a_worker_after_waiting_for_the_new_home(
        aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    assert rec.snapshots is not None
    rec.snapshots.stop()
    old = _recreate_bob_behind_the_operators_back(aws)
    (old / "data").mkdir()
    (old / "data" / "rows.csv").write_text("a,b\n1,2\n")
    if os.geteuid() == 0:
        for path in (old / "notebook.ipynb", old / "data", old / "data" / "rows.csv"):
            os.chown(path, int(old.name), 1001)
    new = _home(aws, "research", "bob")
    if new.exists():
        new.rmdir()  # not made yet
    home_fs = _domain(aws, "research")["HomeEfsFileSystemId"]
    (tmp_path / "nothing-mounted").mkdir()
    remote = unmounted_reconciler(aws, clock, tmp_path / "nothing-mounted",
                                  estate_workers(aws, home_fs))
    assert remote.snapshots is not None and remote.users is not None

    def run() -> list[tuple[str, str]]:
        result = remote.reconcile(desired)
        remote.snapshots.wait(timeout=300)
        remote.queue.pop_ready()
        clock.advance(60)
        return [(o.action, o.outcome) for o in result.outcomes
                if o.action == "RestoreRecreatedHome"]

    steps = run() + run()
    record = remote.status.store.get_item("homerestore#research/bob")
    assert record["phase"] == "Waiting", record
    assert int(record["attempts"]) == 0 and "not made yet" in record["message"], record
    assert ("RestoreRecreatedHome", "ok") not in steps
    new.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(new, int(new.name), 1001)
    for _ in range(6):
        steps += run()
        if ("RestoreRecreatedHome", "ok") in steps:
            break
    assert steps.count(("RestoreRecreatedHome", "ok")) == 1, steps
    record = remote.status.store.get_item("homerestore#research/bob")
    assert record["phase"] == "Succeeded" and int(record["attempts"]) == 1, record
    assert "workerJob" in record, "recorded before the task started"
    assert (new / "notebook.ipynb").read_text() == "{\"cells\": []}"
    assert (new / "data" / "rows.csv").read_text() == "a,b\n1,2\n"
    if os.geteuid() == 0:
        assert os.stat(new / "data" / "rows.csv").st_uid == int(new.name)
    assert (old / "notebook.ipynb").exists(), "the old home is read, never changed"
    tasks = aws.worker_tasks()
    assert tasks and all(t["lastStatus"] == "STOPPED" for t in tasks), tasks
    # Once: nothing restores it again.
    assert ("RestoreRecreatedHome", "ok") not in run() + run()
    assert remote.users.records["research/bob"].home_uid == new.name
