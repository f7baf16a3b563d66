"""The plan's rules for a snapshot recorded on a worker task that no thread of this
controller follows (its controller stopped): adopted (taken again as the same job, with
no attempt counted) and its upload left alone while this slot is current; aborted like
any left-over upload once a new slot comes, when the policy is suspended, or when the
job was not on a worker. Pure."""

from __future__ import annotations

from dataclasses import replace

from controller.plan.snapshots import MAX_ATTEMPTS, plan_snapshots
from controller.plan.types import Action
from controller.snapshots.manifest import share_source
from controller.snapshots.observed import ObservedSnapshots, OpenUpload, PolicyState
from controller.snapshots.spec import Retention, Schedule, SnapshotPolicySpec
from tests.plan.estates import PRIMARY, converged, estate

BUCKET = "studio-snapshots-us-east-1"
DAY = 86400.0
SLOT = 1_800_000_000.0 - 1_800_000_000.0 % DAY
SOURCE = share_source("data")
KEY = f"studio-snapshots/nightly/{SOURCE}/20270115T000100Z-abcd/archive.tar.zst"
STARTED = SLOT + 3600  # when this controller's snapshot workers started


def _plan(state: PolicyState, now: float = SLOT + 7200, suspend: bool = False,
          adopting: frozenset[str] = frozenset()) -> dict[str, Action]:
    policy = SnapshotPolicySpec("nightly", Schedule(every_seconds=int(DAY)), {PRIMARY: BUCKET},
                                retention=Retention(keep_last=2), shares=("data",),
                                prefix="studio-snapshots", suspend=suspend)
    desired = replace(estate({"research": [("alice", 2001, 2001)]}),
                      snapshot_policies={"nightly": policy})
    observed = replace(converged(desired), observed_at=now, snapshots=ObservedSnapshots(
        {"nightly": state}, since=STARTED, adopting_keys=adopting))
    actions: list[Action] = []
    plan_snapshots(desired, observed, actions, [])
    return {a.name: a for a in actions}


def _state(worker: bool, attempts: int = 1, last_slot: float = SLOT) -> PolicyState:
    """This slot's job of the share, Uploading, begun before this controller started."""
    return PolicyState(BUCKET, open_uploads=(OpenUpload(KEY, "upload-1", SLOT + 60),),
                       last_slot=last_slot, jobs={SOURCE: "Uploading"},
                       attempts={SOURCE: attempts},
                       worker_uploads={SOURCE: KEY} if worker else {})


def test_a_worker_job_left_uploading_is_adopted_and_its_upload_kept() -> None:
    planned = _plan(_state(worker=True))
    assert [s["Source"] for s in planned["TakeSnapshots"].params["Sources"]] == [SOURCE]
    assert "AbortSnapshotUploads" not in planned


def test_adopting_is_no_attempt_so_the_last_attempts_worker_is_adopted_too() -> None:
    planned = _plan(_state(worker=True, attempts=MAX_ATTEMPTS))
    assert "TakeSnapshots" in planned and "AbortSnapshotUploads" not in planned
    # A job that ran in the stopped controller itself: nothing runs it now.
    local = _plan(_state(worker=False, attempts=MAX_ATTEMPTS))
    assert "TakeSnapshots" not in local
    assert local["AbortSnapshotUploads"].params["Uploads"] == [[KEY, "upload-1"]]


def test_a_job_left_by_a_local_snapshot_is_taken_again_and_its_upload_aborted() -> None:
    planned = _plan(_state(worker=False))
    assert "TakeSnapshots" in planned
    assert planned["AbortSnapshotUploads"].params["Uploads"] == [[KEY, "upload-1"]]


def test_an_older_slots_worker_upload_is_aborted_when_a_new_slot_comes() -> None:
    planned = _plan(_state(worker=True, last_slot=SLOT - DAY))
    assert planned["TakeSnapshots"].params["Slot"] == SLOT  # the slot taken once, anew
    assert planned["AbortSnapshotUploads"].params["Uploads"] == [[KEY, "upload-1"]]


def test_a_suspended_policy_adopts_nothing_and_aborts_the_upload() -> None:
    planned = _plan(_state(worker=True), suspend=True)
    assert "TakeSnapshots" not in planned
    assert planned["AbortSnapshotUploads"].params["Uploads"] == [[KEY, "upload-1"]]


def test_an_interrupted_final_snapshots_worker_upload_is_kept() -> None:
    """Its key comes from the final snapshot's record (final_snapshot.final_uploads)."""
    state = replace(_state(worker=False), jobs={}, attempts={})
    assert "AbortSnapshotUploads" in _plan(state)
    assert "AbortSnapshotUploads" not in _plan(state, adopting=frozenset({KEY}))
