"""SnapshotPolicy and Restore, as typed values of the desired state. Pure.

A SnapshotPolicy says which homes (all, some domains, some profiles) and which shares
are archived, when (an interval or a cron expression, UTC), how many are kept, where
(a bucket per region and a key prefix), how (zstd level, encryption none or KMS), and
whether it is suspended. A Restore is a one-shot request, like a Kubernetes Job: from
a snapshot (by id, or the newest of a profile or share before a time) or a live
profile's home, into a profile's home or a share directory, in one of three modes, with
owners kept, remapped by a table, or given to the target. This module must not do I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Schedule:
    every_seconds: int | None = None
    cron: str | None = None

    def describe(self) -> str:
        return f"cron {self.cron!r}" if self.cron else f"every {self.every_seconds}s"


@dataclass(frozen=True)
class Retention:
    keep_last: int = 7
    daily: int = 0
    weekly: int = 0


@dataclass(frozen=True)
class HomesSelector:
    all: bool = False
    domains: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()  # "domain/profile"

    def selects(self, domain: str, qualified: str) -> bool:
        return self.all or domain in self.domains or qualified in self.profiles


@dataclass(frozen=True)
class SnapshotPolicySpec:
    name: str
    schedule: Schedule
    buckets: Mapping[str, str]  # region -> bucket
    homes: HomesSelector = HomesSelector()
    shares: tuple[str, ...] = ()
    retention: Retention = Retention()
    prefix: str = "studio-snapshots"
    level: int = 3
    kms_key_id: str | None = None  # None: not encrypted
    suspend: bool = False


@dataclass(frozen=True)
class SnapshotSelector:
    """The newest complete snapshot of a home or share made by a policy, before a time."""

    policy: str
    source: str  # home/<domain>/<profile>/<share> or share/<share>[/<domain>]
    before: float | None = None


@dataclass(frozen=True)
class RestoreSpec:
    name: str
    snapshot: str | None = None  # a snapshot id
    newest: SnapshotSelector | None = None
    live_profile: str | None = None  # "domain/profile": its home as it is now
    to_profile: str | None = None  # "domain/profile"
    to_share: str | None = None  # a share's name (with to_profile: which user share)
    to_domain: str | None = None  # for a domain scope share
    mode: str = "newFolder"
    owners: str = "keep"  # keep | map | target
    uid_map: Mapping[int, int] = field(default_factory=dict)
    gid_map: Mapping[int, int] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Changes exactly when the spec does: a restore runs again only then."""
        body = asdict(self)
        body["uid_map"] = sorted(self.uid_map.items())
        body["gid_map"] = sorted(self.gid_map.items())
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()
                              ).hexdigest()[:16]
