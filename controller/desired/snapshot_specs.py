"""SnapshotPolicy and Restore documents -> their specs (controller.snapshots.spec).

Like build.py, for the two snapshot kinds: applies the schema's defaults and trusts the
documents' shape (they passed their schemas). It must not judge anything across
documents (snapshot_rules.py does).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from controller.snapshots.manifest import home_source, share_source
from controller.snapshots.schedule import ScheduleError, parse_duration
from controller.snapshots.spec import (
    HomesSelector,
    RestoreSpec,
    Retention,
    Schedule,
    SnapshotPolicySpec,
    SnapshotSelector,
)


def snapshot_policy(name: str, spec: Mapping[str, Any]) -> SnapshotPolicySpec:
    schedule = spec["schedule"]
    try:
        every = parse_duration(schedule["every"]) if "every" in schedule else None
    except ScheduleError:
        every = 0  # the rules report it, at its line
    homes = spec.get("homes", {})
    retention = spec.get("retention", {})
    encryption = spec.get("encryption", {"type": "none"})
    return SnapshotPolicySpec(
        name=name,
        schedule=Schedule(every_seconds=every, cron=schedule.get("cron")),
        buckets=dict(spec["destination"]["buckets"]),
        homes=HomesSelector(all=bool(homes.get("all", False)),
                            domains=tuple(homes.get("domains", ())),
                            profiles=tuple(homes.get("profiles", ()))),
        shares=tuple(spec.get("shares", ())),
        retention=Retention(keep_last=int(retention.get("keepLast", 7)),
                            daily=int(retention.get("daily", 0)),
                            weekly=int(retention.get("weekly", 0))),
        prefix=str(spec["destination"].get("prefix", "studio-snapshots")),
        level=int(spec.get("compression", {}).get("level", 3)),
        kms_key_id=encryption.get("keyId") if encryption["type"] == "kms" else None,
        suspend=bool(spec.get("suspend", False)))


def restore(name: str, spec: Mapping[str, Any]) -> RestoreSpec:
    source, target = spec["from"], spec["to"]
    newest = None
    if "newest" in source:
        pick = source["newest"]
        before = pick.get("before")
        newest = SnapshotSelector(
            policy=pick["policy"], source=_selected_source(pick),
            before=datetime.strptime(before, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC).timestamp() if before else None)
    return RestoreSpec(
        name=name, snapshot=source.get("snapshot"), newest=newest,
        live_profile=source.get("profile"), to_profile=target.get("profile"),
        to_share=target.get("share"), to_domain=target.get("domain"),
        mode=spec.get("mode", "newFolder"), owners=spec.get("owners", "keep"),
        uid_map={int(k): int(v) for k, v in spec.get("uidMap", {}).items()},
        gid_map={int(k): int(v) for k, v in spec.get("gidMap", {}).items()})


def _selected_source(pick: Mapping[str, Any]) -> str:
    """home/<domain>/<profile>/<share> for a profile (share: which user share, default
    "home"), share/<share>[/<domain>] for a share."""
    if "profile" in pick:
        domain, profile = pick["profile"].split("/")
        return home_source(domain, profile, pick.get("share", "home"))
    return share_source(pick.get("share", ""), pick.get("domain"))
