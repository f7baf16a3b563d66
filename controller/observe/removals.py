"""Read what the desired state no longer holds in a region: removed profiles and domains,
and what stands in the way of pruning them (their spaces and apps).

Which of them the operator manages is decided here: the status store remembers every
resource an earlier revision held (`managed_keys`), and the operator tags what it makes
(studio-operator.io/managed-by), which is read only with prune on, only for what the
store does not know, and reused like a describe (DescribeCache). With prune off nothing
is listed beyond what observe already reads: the removed resources are only reported.
Spaces, apps and every profile of a domain are listed only for domains with something
to prune. Reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from controller.gateway import AwsGateway
from controller.model import MANAGED_TAG, MANAGED_TAG_VALUE, DesiredState
from controller.observe.cache import DescribeCache
from controller.observed import (
    ObservedApp,
    ObservedDomain,
    ObservedRemovals,
    ObservedSpace,
    RemovedDomain,
    RemovedProfile,
)

_PAGE = 100
# Apps in these states still keep a space, profile or domain from being deleted.
_GONE_APP = ("Deleted",)


def observe_removals(gateway: AwsGateway, desired: DesiredState, region: str,
                     domains: Mapping[str, ObservedDomain],
                     others: Mapping[str, Mapping[str, Any]], unmanaged: Iterable[str],
                     managed_keys: frozenset[str] | None,
                     cache: DescribeCache | None = None) -> ObservedRemovals:
    """`domains`: the desired domains the region holds; `others`: list summaries of the
    domains it holds that are not desired; `unmanaged`: "domain/profile" of profiles in
    desired domains that the desired state does not name."""
    known = managed_keys or frozenset()
    prune = desired.estate.prune  # suspended too: the plan shows what it would delete
    sagemaker = gateway.client("sagemaker", region)
    removed_domains = {
        name: RemovedDomain(name, str(summary["DomainId"]), str(summary.get("Status", "")),
                            f"Domain/{name}" in known or (prune and _tagged(
                                sagemaker, cache, ("domain-tags", region, name),
                                summary.get("LastModifiedTime"),
                                partial(summary.get, "DomainArn"))))
        for name, summary in sorted(others.items())}
    ids = {name: seen.domain_id for name, seen in domains.items()}
    profiles: dict[str, RemovedProfile] = {}
    for qualified in sorted(unmanaged):
        domain, _, name = qualified.partition("/")
        if domain in ids:
            profiles[qualified] = RemovedProfile(domain, ids[domain], name, "",
                                                 f"UserProfile/{qualified}" in known)
    if not prune:
        return ObservedRemovals(profiles=profiles, domains=removed_domains)
    involved = {name: d.domain_id for name, d in removed_domains.items() if d.managed}
    involved |= {domain: ids[domain] for key in known if key.startswith("UserProfile/")
                 for domain, _, name in [key[len("UserProfile/"):].partition("/")]
                 if domain in ids and f"{domain}/{name}" not in desired.profiles}
    for profile in list(profiles.values()):
        if not profile.managed and profile.domain not in involved:
            # Not in the store: the operator's tag is the other sign that it made it.
            involved[profile.domain] = profile.domain_id
    spaces: dict[str, tuple[ObservedSpace, ...]] = {}
    apps: dict[str, tuple[ObservedApp, ...]] = {}
    foreign: dict[str, tuple[str, ...]] = {}
    for domain, domain_id in sorted(involved.items()):
        doomed = domain in removed_domains
        strangers: list[str] = []
        for summary in _pages(sagemaker, "list_user_profiles", "UserProfiles",
                              DomainIdEquals=domain_id):
            name = str(summary["UserProfileName"])
            qualified = f"{domain}/{name}"
            if not doomed and qualified in desired.profiles:
                continue
            managed = f"UserProfile/{qualified}" in known or _tagged(
                sagemaker, cache, ("profile-tags", region, domain_id, name),
                summary.get("LastModifiedTime"),
                partial(_profile_arn, sagemaker, domain_id, name))
            if doomed and not managed:
                strangers.append(name)
            profiles[qualified] = RemovedProfile(domain, domain_id, name,
                                                 str(summary.get("Status", "")), managed)
        if strangers:
            foreign[domain] = tuple(sorted(strangers))
        spaces[domain_id] = tuple(
            ObservedSpace(domain_id, str(s["SpaceName"]), str(s.get("Status", "")),
                          (s.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName"))
            for s in _pages(sagemaker, "list_spaces", "Spaces", DomainIdEquals=domain_id))
        apps[domain_id] = tuple(
            ObservedApp(domain, domain_id, str(a["AppType"]), str(a["AppName"]),
                        a.get("UserProfileName"), a.get("SpaceName"), str(a.get("Status", "")))
            for a in _pages(sagemaker, "list_apps", "Apps", DomainIdEquals=domain_id)
            if a.get("Status") not in _GONE_APP)
    return ObservedRemovals(profiles=profiles, domains=removed_domains, spaces=spaces,
                            apps=apps, foreign_profiles=foreign)


def _pages(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(
            **params, PaginationConfig={"PageSize": _PAGE}):
        found.extend(page[key])
    return found


def _profile_arn(sagemaker: Any, domain_id: str, name: str) -> str | None:
    try:
        return str(sagemaker.describe_user_profile(DomainId=domain_id,
                                                   UserProfileName=name)["UserProfileArn"])
    except sagemaker.exceptions.ResourceNotFound:
        return None  # gone meanwhile


def _tagged(sagemaker: Any, cache: DescribeCache | None, key: tuple[str, ...],
            last_modified: Any, arn_of: Callable[[], Any]) -> bool:
    """Whether the resource carries the operator's managed-by tag (reused from the
    cache while its LastModifiedTime holds)."""
    if cache is not None:
        remembered = cache.get(key, last_modified)
        if remembered is not None:
            return bool(remembered.description.get("managed"))
    arn = arn_of()
    if not arn:
        return False
    tags: dict[str, str] = {}
    try:
        for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
            tags.update({t["Key"]: t.get("Value", "") for t in page.get("Tags", [])})
    except sagemaker.exceptions.ResourceNotFound:
        return False
    managed = tags.get(MANAGED_TAG) == MANAGED_TAG_VALUE
    if cache is not None:
        cache.put(key, last_modified, {"managed": managed})
    return managed
