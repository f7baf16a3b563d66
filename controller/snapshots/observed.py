"""What the planner sees of snapshots and restores, once per pass. Pure values.

Filled by controller.snapshots.runner from S3 listings (complete snapshots are the
ones with a manifest; open multipart uploads under a policy's prefix), the policy and
restore records of the status table, and the jobs running in this controller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OpenUpload:
    key: str
    upload_id: str
    initiated: float = 0.0  # epoch seconds


@dataclass(frozen=True)
class PolicyState:
    bucket: str
    # source id -> [(snapshot id, created epoch)] of complete snapshots
    complete: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    open_uploads: tuple[OpenUpload, ...] = ()
    last_slot: float | None = None  # the slot the last run was started for
    # source -> phase of this slot's job ("Uploading", "Complete", "Failed")
    jobs: Mapping[str, str] = field(default_factory=dict)
    attempts: Mapping[str, int] = field(default_factory=dict)
    listed: bool = True  # False: the bucket could not be listed this pass
    # Archives whose manifest never came (key, LastModified; upload_id ""): incomplete.
    unfinished_archives: tuple[OpenUpload, ...] = ()
    # source -> the object key its recorded worker job uploads, for this slot's jobs
    # still "Uploading" on a worker task (a restarted controller adopts them).
    worker_uploads: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreState:
    fingerprint: str = ""
    phase: str = ""  # "", Waiting, Running, Succeeded, Failed


@dataclass(frozen=True)
class ObservedSnapshots:
    policies: Mapping[str, PolicyState] = field(default_factory=dict)
    restores: Mapping[str, RestoreState] = field(default_factory=dict)
    running: frozenset[str] = frozenset()  # job keys running in this controller
    uploading_keys: frozenset[str] = frozenset()  # object keys this controller uploads now
    # When this controller's workers started: an open upload begun before then is left
    # over (a killed controller, a leader that lost its lease), one begun after is
    # someone's in flight (`studioctl snapshot create`) unless it is older than a day.
    since: float = 0.0
    # Object keys a job of this controller began uploading and no longer writes.
    ended_keys: frozenset[str] = frozenset()
    # Object keys that interrupted final snapshots' recorded worker jobs upload: their
    # tasks are adopted this pass (controller.actions.final_snapshot.final_uploads).
    adopting_keys: frozenset[str] = frozenset()
