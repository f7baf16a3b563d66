"""A recreated profile whose old home disappears between the plan and its restore (on
this controller, or where a worker task restores it): done with nothing to restore, not
a failed attempt; the user table moves to the new incarnation and the history says the
old home was gone. Only a missing folder counts: a link where it was is still refused.
Against the emulator, with real folders."""

from __future__ import annotations

import os
import shutil
import threading

from controller.snapshots.runner import WORKERS
from tests.converge.test_recreation import (
    _converged,
    _domain,
    _home,
    _recreate_bob_behind_the_operators_back,
    _run,
)
from tests.snapshots.test_restore_on_worker import estate_workers, unmounted_reconciler

PK = "homerestore#research/bob"


def _recreation_entries(rec) -> list:
    return [e for e in rec.history.log.entries(profile="research/bob") if e.what == "recreation"]


def _restore_after(rec, desired, change) -> dict:
    """One pass plans bob's restore while the snapshot workers are busy; `change` runs
    before the restore does; answers its record once it has run."""
    release = threading.Event()
    for n in range(WORKERS):
        rec.snapshots.submit(f"busy-{n}", lambda cancelled: release.wait(60))
    result = rec.reconcile(desired)
    assert [a.name for a in result.plan.actions].count("RestoreRecreatedHome") == 1
    change()
    release.set()
    rec.snapshots.wait(timeout=120)
    return rec.status.store.get_item(PK)


def test_an_old_home_gone_before_its_restore_is_done_with_nothing_restored(aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    old = _recreate_bob_behind_the_operators_back(aws)
    new = _home(aws, "research", "bob")
    record = _restore_after(rec, desired, lambda: shutil.rmtree(old))
    assert (record["phase"], record.get("gone"), int(record["files"])) == (
        "Succeeded", True, 0), record
    assert int(record["attempts"]) == 1 and "was gone" in record["message"], record
    done = [name for _ in range(3) for name in _run(rec, desired, clock)]
    assert "RestoreRecreatedHome" not in done
    assert rec.users.records["research/bob"].home_uid == new.name
    (entry,) = _recreation_entries(rec)
    assert entry.result == "nothing to restore" and "no longer exists" in entry.message
    assert not os.path.lexists(old) and sorted(os.listdir(new)) == []


def test_a_link_where_the_old_home_was_is_still_refused(aws, tmp_path):
    desired, rec, _ = _converged(aws, tmp_path)
    old = _recreate_bob_behind_the_operators_back(aws)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def planted() -> None:
        shutil.rmtree(old)
        old.symlink_to(elsewhere)
    record = _restore_after(rec, desired, planted)
    assert record["phase"] == "Failed" and not record.get("gone"), record
    assert int(record["attempts"]) == 1, record


def test_an_old_home_a_worker_finds_gone_is_done_once_with_nothing_restored(aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    assert rec.snapshots is not None
    rec.snapshots.stop()
    old = _recreate_bob_behind_the_operators_back(aws)
    shutil.rmtree(old)  # the plan cannot see it: the file system is not mounted here
    new = _home(aws, "research", "bob")
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

    steps: list[tuple[str, str]] = []
    for _ in range(6):
        steps += run()
        if ("RestoreRecreatedHome", "ok") in steps:
            break
    assert steps.count(("RestoreRecreatedHome", "ok")) == 1, steps
    assert ("RestoreRecreatedHome", "terminal") not in steps, steps
    record = remote.status.store.get_item(PK)
    assert (record["phase"], record.get("gone"), int(record["attempts"])) == (
        "Succeeded", True, 1), record
    assert remote.users.records["research/bob"].home_uid == new.name
    (entry,) = _recreation_entries(remote)
    assert entry.result == "nothing to restore" and "was gone" in entry.message
    assert ("RestoreRecreatedHome", "ok") not in run() + run()
