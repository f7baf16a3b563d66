"""Read the region's SageMaker domains and user profiles.

List calls find what exists (paged, 100 a page); describes are made only for the
domains and profiles the desired state names, since only their settings can drift
from it, and only when the cache (controller.observe.cache) has nothing current for
them. A profile's status is the listing's (always fresh). Reads only; never changes AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observe.cache import DescribeCache, Remembered
from controller.observed import ObservedApp, ObservedDomain, ObservedProfile, ProfileRecord

_PAGE = 100
# Profiles described per pass only to complete their user-table record (see
# observe_profiles): about 5 s at AWS's latency, done within a few passes at 500 profiles.
RECORDS_PER_PASS = 100
# An app in any other state (Deleted, Failed) holds nothing open any more.
RUNNING_APP_STATES = ("InService", "Pending", "Deleting")


def observe_domains(gateway: AwsGateway, desired: DesiredState, region: str,
                    cache: DescribeCache | None = None,
                    others: dict[str, dict[str, Any]] | None = None
                    ) -> dict[str, ObservedDomain]:
    """The desired domains the region holds, described (or from the cache). The list
    summaries of the domains the desired state does not name (Deleting ones included)
    go to `others`, by name."""
    sagemaker = gateway.client("sagemaker", region)
    summaries: dict[str, dict[str, Any]] = {}
    for page in sagemaker.get_paginator("list_domains").paginate(
            PaginationConfig={"PageSize": _PAGE}):
        for summary in page["Domains"]:
            if others is not None and summary["DomainName"] not in desired.domains:
                others.setdefault(summary["DomainName"], summary)
            if summary.get("Status") in ("Deleting", "Delete_Failed"):
                continue
            summaries.setdefault(summary["DomainName"], summary)
    observed: dict[str, ObservedDomain] = {}
    for name in sorted(set(desired.domains) & set(summaries)):
        summary = summaries[name]
        description = _described(cache, domain_key(region, summary["DomainId"]),
                                 epoch(summary.get("LastModifiedTime")),
                                 partial(sagemaker.describe_domain,
                                         DomainId=summary["DomainId"])).description
        observed[name] = ObservedDomain(
            domain_id=description["DomainId"],
            name=name,
            status=description.get("Status", "Unknown"),
            description=description,
        )
    return observed


def observe_profiles(gateway: AwsGateway, desired: DesiredState, region: str,
                     domains: dict[str, ObservedDomain],
                     cache: DescribeCache | None = None,
                     unmanaged: list[str] | None = None,
                     records: Mapping[str, ProfileRecord] | None = None,
                     ) -> dict[str, ObservedProfile]:
    """The desired profiles the region holds, described (or from the cache). Profiles the
    listing finds that the desired state does not name are appended to `unmanaged`.

    `records` is the user table: a profile with no complete record of its incarnation
    there is described even where the cache remembers its create (what a create sent lacks the
    HomeEfsFileSystemUid the record needs to find its home after a recreation), at most
    RECORDS_PER_PASS of them per pass, so a failover that just made hundreds of profiles
    does not describe them all in its next pass."""
    sagemaker = gateway.client("sagemaker", region)
    observed: dict[str, ObservedProfile] = {}
    unrecorded_budget = RECORDS_PER_PASS
    for domain_name in sorted(domains):
        domain_id = domains[domain_name].domain_id
        wanted = {p.name: p for p in desired.profiles_of(domain_name)}
        paginator = sagemaker.get_paginator("list_user_profiles")
        for page in paginator.paginate(DomainIdEquals=domain_id,
                                       PaginationConfig={"PageSize": _PAGE}):
            for summary in page["UserProfiles"]:
                name = summary["UserProfileName"]
                if summary.get("Status") == "Deleting":
                    continue
                if name not in wanted:
                    if unmanaged is not None:
                        unmanaged.append(f"{domain_name}/{name}")
                    continue
                last_modified = epoch(summary.get("LastModifiedTime"))
                untouched = (last_modified is not None
                             and epoch(summary.get("CreationTime")) == last_modified)
                key = profile_key(region, domain_id, name)
                record = (records or {}).get(f"{domain_name}/{name}")
                if (records is not None and untouched and cache is not None
                        and not cache.is_complete(key)
                        and not _recorded(record, domain_id, summary)):
                    untouched = unrecorded_budget <= 0  # describe it, within the budget
                    unrecorded_budget -= 1
                remembered = _described(
                    cache, key, last_modified,
                    partial(sagemaker.describe_user_profile, DomainId=domain_id,
                            UserProfileName=name),
                    untouched=untouched)
                description = remembered.description
                if "CreationTime" not in description and summary.get("CreationTime"):
                    # The cache keeps no times; the incarnation (plan.recreation) needs it.
                    description = {**description, "CreationTime": summary["CreationTime"]}
                tags = None
                if wanted[name].settings.tags and description.get("UserProfileArn"):
                    tags = _tags(cache, ("tags", region, domain_id, name), last_modified,
                                 sagemaker, description["UserProfileArn"])
                observed[f"{domain_name}/{name}"] = ObservedProfile(
                    domain_id=domain_id,
                    name=name,
                    status=summary.get("Status") or description.get("Status", "Unknown"),
                    last_modified=last_modified,
                    description=description,
                    described=remembered.complete,
                    tags=tags,
                )
    return observed


def _recorded(record: ProfileRecord | None, domain_id: str, summary: Mapping[str, Any]) -> bool:
    """Whether the user table's record is of the incarnation the listing shows (same
    domain id and CreationTime) and complete (it knows the home's uid)."""
    created = summary.get("CreationTime")
    text = created.isoformat() if isinstance(created, datetime) else str(created or "")
    return (record is not None and bool(record.home_uid) and record.domain_id == domain_id
            and record.created == text)


def domain_key(region: str, domain_id: str) -> tuple[str, ...]:
    return ("domain", region, domain_id)


def profile_key(region: str, domain_id: str, name: str) -> tuple[str, ...]:
    return ("profile", region, domain_id, name)


def epoch(stamp: Any) -> float | None:
    """A LastModifiedTime as epoch seconds (millisecond precision, as AWS keeps them)."""
    if isinstance(stamp, datetime):
        return round(stamp.timestamp(), 3)
    if isinstance(stamp, int | float):
        return round(float(stamp), 3)
    return None


def _tags(cache: DescribeCache | None, key: tuple[str, ...], last_modified: float | None,
          sagemaker: Any, arn: str) -> dict[str, str]:
    """A profile's tags, reused like its describe (tag changes do not move a profile's
    LastModifiedTime, so a tag changed by hand is found at the cache's full refresh, or
    at once through an event)."""
    if cache is not None:
        remembered = cache.get(key, last_modified)
        if remembered is not None:
            return dict(remembered.description)
    found: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        found.update({str(t["Key"]): str(t.get("Value", "")) for t in page.get("Tags", [])})
    if cache is not None:
        cache.put(key, last_modified, dict(found))
    return found


def _described(cache: DescribeCache | None, key: tuple[str, ...], last_modified: float | None,
               describe: Callable[[], dict[str, Any]], untouched: bool = False) -> Remembered:
    """A describe, reused from the cache while the resource's LastModifiedTime holds."""
    if cache is not None:
        remembered = cache.get(key, last_modified, untouched)
        if remembered is not None:
            return remembered
    answer = describe()
    if cache is not None:
        return Remembered(cache.put(key, last_modified, answer), complete=True)
    return Remembered({k: v for k, v in answer.items() if k != "ResponseMetadata"}, True)


def observe_lifecycle_configs(gateway: AwsGateway, desired: DesiredState,
                              region: str) -> dict[str, str] | None:
    """The region's Studio lifecycle configs, name -> ARN (AWS's, in the region's
    partition); not looked at (None) when no domain backs its spaces up."""
    if not any(d.space_backup.enabled for d in desired.domains.values()):
        return None
    sagemaker = gateway.client("sagemaker", region)
    arns: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_studio_lifecycle_configs").paginate(
            PaginationConfig={"PageSize": _PAGE}):
        for config in page["StudioLifecycleConfigs"]:
            arns[config["StudioLifecycleConfigName"]] = config["StudioLifecycleConfigArn"]
    return arns


def observe_running_apps(gateway: AwsGateway, desired: DesiredState,
                         region: str) -> tuple[ObservedApp, ...]:
    """The Studio apps still running (or stopping) in the region's desired domains."""
    sagemaker = gateway.client("sagemaker", region)
    domain_ids: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_domains").paginate(
            PaginationConfig={"PageSize": _PAGE}):
        for summary in page["Domains"]:
            if summary["DomainName"] in desired.domains:
                domain_ids.setdefault(summary["DomainName"], summary["DomainId"])
    return apps_of(gateway, region, domain_ids)


def apps_of(gateway: AwsGateway, region: str,
            domain_ids: dict[str, str]) -> tuple[ObservedApp, ...]:
    """The running (or stopping) apps of the given domains (name -> id)."""
    sagemaker = gateway.client("sagemaker", region)
    apps: list[ObservedApp] = []
    for name in sorted(domain_ids):
        for page in sagemaker.get_paginator("list_apps").paginate(
                DomainIdEquals=domain_ids[name], PaginationConfig={"PageSize": _PAGE}):
            for app in page["Apps"]:
                if app.get("Status") not in RUNNING_APP_STATES:
                    continue
                apps.append(ObservedApp(
                    domain=name, domain_id=domain_ids[name], app_type=app["AppType"],
                    app_name=app["AppName"], user_profile=app.get("UserProfileName"),
                    space=app.get("SpaceName"), status=app["Status"]))
    return tuple(apps)
