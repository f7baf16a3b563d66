"""The user table: where each profile's files live, one item per profile in the status
table ("user#<domain>/<profile>"), as in the write-ups' recovery app.

Written by the controller when it sees a profile InService (controller.plan.recreation
says what changed), read back on every pass to recognise a profile or domain recreated
behind its back; its custom file system paths are where prune's final snapshot reads.
This module only maps a record to and from its item.
"""

from __future__ import annotations

from typing import Any

from controller.observed import ProfileRecord

PREFIX = "user#"


def pk(qualified: str) -> str:
    return f"{PREFIX}{qualified}"


def to_item(record: ProfileRecord) -> dict[str, Any]:
    return {"pk": pk(record.qualified_name), "domain": record.domain, "name": record.name,
            "domainId": record.domain_id, "created": record.created,
            "homeEfsId": record.home_efs_id, "homeUid": record.home_uid,
            "uid": record.uid, "gid": record.gid,
            "customPaths": [list(path) for path in record.custom_paths],
            "recreatedFrom": record.recreated_from}


def from_item(item: dict[str, Any]) -> ProfileRecord:
    return ProfileRecord(
        domain=str(item["domain"]), name=str(item["name"]), domain_id=str(item["domainId"]),
        created=str(item.get("created", "")), home_efs_id=str(item.get("homeEfsId", "")),
        home_uid=str(item.get("homeUid", "")), uid=int(item.get("uid", 0)),
        gid=int(item.get("gid", 0)),
        custom_paths=tuple((str(a), str(b), str(c)) for a, b, c in item.get("customPaths", [])),
        recreated_from=str(item.get("recreatedFrom", "")))
