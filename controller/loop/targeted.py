"""A targeted pass: what an event named, looked at afresh, against the last full pass.

An event names a profile (controller.events.keys). Rather than observe the whole region
again (at 2,000 profiles, a few dozen calls), the profiles named are described afresh
and laid over the last full pass's observation; the plan is made as always (pure) and
only the actions on those profiles (and their home restores) are taken. Everything else
in that plan rests on an observation up to one resync old, so it is left to the next
full pass. Anything but known profiles of the desired state (a domain, a file system,
a profile in a domain the last pass did not see, too many at once, a removed profile
with prune on) asks for a full pass instead (None). Reads only; the reconciler acts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from controller.events.keys import EventKey
from controller.model import DesiredState
from controller.observe.old_homes import recreated_homes
from controller.observe.sagemaker import epoch, profile_key
from controller.observed import ObservedProfile, ObservedState
from controller.plan import Kind, Plan, ResourceKey, make_plan

if TYPE_CHECKING:
    from controller.loop.reconciler import Reconciler

MAX_PROFILES = 25  # more at once: a full pass costs about as much, and sees everything
_KINDS = (Kind.USER_PROFILE, Kind.HOME_RESTORE)
_SETTLE_SECONDS = 10.0


def targeted_plan(rec: Reconciler, desired: DesiredState, keys: Iterable[EventKey]
                  ) -> tuple[ObservedState, Plan] | None:
    last = rec.last_observed
    if last is None or rec.last_revision != desired.revision:
        return None
    ids = {seen.domain_id: name for name, seen in last.domains.items()}
    wanted: dict[str, tuple[str, str]] = {}  # "domain/profile" -> (domain id, name)
    for key in keys:
        if key.kind == "domain" and key.domain_id:
            rec.cache.forget(("domain", rec.region, key.domain_id))
        domain = ids.get(key.domain_id)
        if key.kind != "profile" or domain is None:
            return None
        qualified = f"{domain}/{key.name}"
        if qualified in desired.profiles:
            wanted[qualified] = (key.domain_id, key.name)
        elif desired.estate.prune:
            return None  # a removed profile: prune decides over the whole region
    if len(wanted) > MAX_PROFILES:
        return None
    profiles = dict(last.profiles)
    sagemaker = rec.gateway.client("sagemaker", rec.region)
    for qualified, (domain_id, name) in sorted(wanted.items()):
        try:
            described = {k: v for k, v in sagemaker.describe_user_profile(
                DomainId=domain_id, UserProfileName=name).items() if k != "ResponseMetadata"}
        except sagemaker.exceptions.ResourceNotFound:
            profiles.pop(qualified, None)
            continue
        status = str(described.get("Status", "Unknown"))
        if status == "Deleting":
            # Gone in a moment (no event says when): look again with a full pass then.
            profiles.pop(qualified, None)
            rec.queue.add_after(ResourceKey(Kind.USER_PROFILE, rec.region, qualified),
                                _SETTLE_SECONDS)
            wanted.pop(qualified)
            continue
        last_modified = epoch(described.get("LastModifiedTime"))
        rec.cache.put(profile_key(rec.region, domain_id, name), last_modified, described)
        tags = None
        if desired.profiles[qualified].settings.tags and described.get("UserProfileArn"):
            tags = {t["Key"]: t.get("Value", "") for page in sagemaker.get_paginator(
                "list_tags").paginate(ResourceArn=described["UserProfileArn"])
                for t in page.get("Tags", [])}
        profiles[qualified] = ObservedProfile(domain_id, name, status, last_modified,
                                              described, tags=tags)
    records = rec.users.records if rec.users is not None else {}
    observed = replace(
        last, profiles=profiles, observed_at=rec.clock.now(), profile_records=records,
        recreated_homes=recreated_homes(rec.gateway, rec.region, rec.efs_root,
                                        {q: r for q, r in records.items() if q in wanted},
                                        profiles, last.domains))
    plan = make_plan(desired, observed)

    def ours(action_key: ResourceKey) -> bool:
        return action_key.kind in _KINDS and action_key.name in wanted

    heads = tuple(f"UserProfile/{q}:" for q in wanted)
    return observed, replace(
        plan, actions=tuple(a for a in plan.actions if ours(a.key)),
        suspended=tuple(a for a in plan.suspended if ours(a.key)), held=(), removal=None,
        records=tuple(r for r in plan.records if r.qualified_name in wanted),
        problems=tuple(p for p in plan.problems if p.startswith(heads)), notes=(),
        waiting=tuple(w for w in plan.waiting if w[0] in {f"UserProfile/{q}" for q in wanted}))
