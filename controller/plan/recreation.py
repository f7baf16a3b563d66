"""Recreation without data loss: a profile or domain made again under its old name gets
its old home back, once. Pure.

Every profile seen InService has a record in the user table (observed.profile_records):
its domain id, CreationTime and HomeEfsFileSystemUid (together, its incarnation), the
domain's own EFS, its POSIX ids and its custom file system paths. When the profile in
AWS is another incarnation than the record's (deleted and created again, by hand or by
the operator putting it back; or its domain recreated, to move to IAM Identity Center or
another KMS key) and the old home still exists, the old home folder on the old domain
EFS (`/<old HomeEfsFileSystemUid>`, kept when a domain is deleted with its EFS retained)
is restored into the new one, filling only what is missing, with the old uid's files
given the new uid (RestoreRecreatedHome). The record moves to the new incarnation only
once that has succeeded: a restore cut short runs again, a finished one never does.
Homes on custom file systems stay where they are (same path, same POSIX ids from the
desired state) and are attached again by the plan: nothing to copy, and said so.
`restoreOnRecreate: false` (in the desired state, so it survives the recreation) records
the new incarnation without restoring.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from controller.model import DesiredState
from controller.observed import ObservedState, ProfileRecord
from controller.plan.types import Action, Difference, Kind, ResourceKey, Verb
from controller.plan.working_copy import serving_file_system

DECLINED = "declined"  # restoreOnRecreate: false
GONE = "gone"  # the old home no longer existed


def incarnation(domain: dict[str, Any] | Any, profile: dict[str, Any] | Any) -> tuple[str, str]:
    """(CreationTime as ISO 8601, HomeEfsFileSystemUid) of a described profile."""
    created = profile.get("CreationTime")
    text = created.isoformat() if isinstance(created, datetime) else str(created or "")
    return text, str(profile.get("HomeEfsFileSystemUid", ""))


def current_record(desired: DesiredState, observed: ObservedState,
                   qualified: str) -> ProfileRecord | None:
    """The user table's record for what the region holds now (None: not InService)."""
    profile = desired.profiles[qualified]
    seen = observed.profiles.get(qualified)
    domain = observed.domains.get(profile.domain)
    if seen is None or domain is None or seen.status != "InService":
        return None
    if not seen.described:
        # Only what the operator's create sent (observe.cache): no HomeEfsFileSystemUid to
        # record or to compare, so neither a record nor a recreation is judged from it.
        return None
    created, home_uid = incarnation(domain.description, seen.description)
    posix = (seen.description.get("UserSettings") or {}).get("CustomPosixUserConfig") or {}
    paths = []
    for directory in desired.share_directories():
        if directory.profile != qualified:
            continue
        fs_id = serving_file_system(desired, observed.region, observed.references,
                                    directory.file_system)
        if fs_id is not None:
            paths.append((directory.file_system, fs_id, directory.path))
    return ProfileRecord(profile.domain, profile.name, seen.domain_id, created,
                         str(domain.description.get("HomeEfsFileSystemId", "")), home_uid,
                         int(posix.get("Uid", profile.posix.uid)),
                         int(posix.get("Gid", profile.posix.gid)), tuple(sorted(paths)))


def plan_recreation(desired: DesiredState, observed: ObservedState, actions: list[Action],
                    notes: list[str]) -> dict[str, ProfileRecord]:
    """Restores for recreated profiles (appended to `actions`); returns the records the
    user table should hold after this pass for the profiles that need no restore."""
    updates: dict[str, ProfileRecord] = {}
    for qualified in sorted(desired.profiles):
        now = current_record(desired, observed, qualified)
        if now is None:
            continue
        old = observed.profile_records.get(qualified)
        if old is None or old.incarnation == now.incarnation:
            kept = replace(now, recreated_from=old.recreated_from if old else "")
            if kept != old:
                updates[qualified] = kept
            continue
        home = observed.recreated_homes.get(qualified, "")
        what = (f"UserProfile/{qualified}: recreated (domain {old.domain_id} -> "
                f"{now.domain_id}, home uid {old.home_uid} -> {now.home_uid})")
        custom = f"; its custom file system home(s) stay in place ({_paths(now)})" if (
            now.custom_paths) else ""
        if not desired.profiles[qualified].restore_on_recreate:
            notes.append(f"{what}: restoreOnRecreate is false, so its old home is not "
                         f"restored{custom}")
            updates[qualified] = replace(now, recreated_from=DECLINED)
        elif home == "unmounted":
            notes.append(f"{what}: its old home, {old.home_efs_id}:/{old.home_uid}, waits "
                         f"until that file system is mounted under --efs-root")
        elif home not in ("present", "remote") or not old.home_efs_id or not old.home_uid:
            notes.append(f"{what}: its old home {old.home_efs_id}:/{old.home_uid} no longer "
                         f"exists; nothing to restore{custom}")
            updates[qualified] = replace(now, recreated_from=GONE)
        else:
            new = replace(now, recreated_from=old.incarnation)
            actions.append(Action(
                "RestoreRecreatedHome", Verb.CREATE,
                ResourceKey(Kind.HOME_RESTORE, observed.region, qualified),
                (Difference("From", f"{old.home_efs_id}:/{old.home_uid}", None),
                 Difference("To", f"{now.home_efs_id}:/{now.home_uid}", None),
                 Difference("Owners", f"uid {old.home_uid} -> {now.home_uid}", None)),
                {"Profile": qualified,
                 "Source": {"FileSystemId": old.home_efs_id, "Path": f"/{old.home_uid}"},
                 "Target": {"FileSystemId": now.home_efs_id, "Path": f"/{now.home_uid}"},
                 "UidMap": {old.home_uid: now.home_uid},
                 "Previous": old.incarnation, "Record": asdict(new)}))
            if custom:
                notes.append(f"{what}{custom}")
    return updates


def _paths(record: ProfileRecord) -> str:
    return ", ".join(f"{fs_id}:{path}" for _, fs_id, path in record.custom_paths)
