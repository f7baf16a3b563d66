"""Which snapshots of one source a policy keeps. Pure.

Kept: the newest `keep_last`, the newest of each of the last `daily` UTC days and of
the last `weekly` ISO weeks that have one. Only complete snapshots (with a manifest)
this policy made are ever considered; the newest complete one is always kept, and
nothing is removed unless a newer complete snapshot exists. This module must not do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from controller.snapshots.spec import Retention


def to_remove(created: Sequence[tuple[str, float]], retention: Retention) -> list[str]:
    """The ids to delete among (id, created_at) of one source's complete snapshots."""
    ordered = sorted(created, key=lambda item: (item[1], item[0]), reverse=True)
    if len(ordered) <= 1:
        return []
    keep = {snapshot for snapshot, _ in ordered[:max(1, retention.keep_last)]}
    for count, bucket_of in ((retention.daily, _day), (retention.weekly, _week)):
        seen: list[str] = []
        for snapshot, when in ordered:
            bucket = bucket_of(when)
            if bucket not in seen:
                if len(seen) == count:
                    break
                seen.append(bucket)
                keep.add(snapshot)
    keep.add(ordered[0][0])  # never the newest complete one
    return [snapshot for snapshot, _ in ordered if snapshot not in keep]


def _day(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d")


def _week(when: float) -> str:
    year, week, _ = datetime.fromtimestamp(when, UTC).isocalendar()
    return f"{year}-W{week:02d}"
