"""UpdateDomain and UpdateUserProfile, merged into what AWS holds.

SageMaker replaces each settings structure an update names (JupyterLabAppSettings, ...)
with the one sent, so sending only the operator's fields would wipe what an
administrator set beside them: custom images, idle shutdown, a default instance type,
their own lifecycle configs. The update therefore sends the observed settings with the
desired fields laid over them: mappings merge key by key, lists the operator owns are
replaced, and LifecycleConfigArns keeps every config the operator did not make.

Changing AppNetworkAccessType or removing subnets is refused by AWS while any app of
the domain is InService, Pending or Deleting; such a change goes in its own
UpdateDomainNetwork action, planned only when no app runs, and otherwise the plan says
what it waits for. Adding subnets needs no stop and goes with the settings. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.lifecycle import is_operator_config_arn
from controller.model import DomainSpec
from controller.observed import ObservedApp, ObservedProfile, ResolvedReferences
from controller.plan.diff import scoped_diff
from controller.plan.shapes import APP_NETWORK_ACCESS
from controller.plan.types import Action, Difference, Ref, ResourceKey, Verb

SETTINGS_FIELDS = ("DefaultUserSettings", "DefaultSpaceSettings")
# Lists where the operator adds its items and leaves everyone else's.
SHARED_LISTS = frozenset({"LifecycleConfigArns"})
NETWORK_ACTION = "UpdateDomainNetwork"


def merged(observed: Any, desired: Any, key: str = "") -> Any:
    """What AWS should hold: `observed` with `desired` laid over it."""
    if isinstance(desired, Mapping):
        result = dict(observed) if isinstance(observed, Mapping) else {}
        for name, value in desired.items():
            result[name] = merged(result.get(name), value, name)
        return result
    if key in SHARED_LISTS and isinstance(desired, list | tuple):
        theirs = [item for item in (observed or []) if not is_operator_config_arn(item)
                  and item not in desired]
        return [*theirs, *desired]
    return desired


def plan_domain_update(key: ResourceKey, request: Mapping[str, Any],
                       description: Mapping[str, Any],
                       running_apps: Sequence[ObservedApp] | None,
                       actions: list[Action], notes: list[str]) -> None:
    """The domain's UpdateDomain (settings, added subnets) and, when no app runs, its
    UpdateDomainNetwork (access type, removed subnets)."""
    body: dict[str, Any] = {}
    changes: list[Difference] = []
    for field in SETTINGS_FIELDS:
        target = merged(description.get(field), request[field])
        found = scoped_diff(target, description.get(field), field)
        if found:
            body[field] = target
            changes += found
    network: dict[str, Any] = {}
    network_changes: list[Difference] = []
    wanted_access, seen_access = request["AppNetworkAccessType"], description.get(
        "AppNetworkAccessType")
    if wanted_access != seen_access:
        network["AppNetworkAccessType"] = wanted_access
        network_changes.append(Difference("AppNetworkAccessType", wanted_access, seen_access))
    wanted_subnets = list(request["SubnetIds"])
    seen_subnets = list(description.get("SubnetIds") or [])
    if any(isinstance(s, Ref) for s in wanted_subnets) or set(wanted_subnets) != set(
            seen_subnets):
        difference = Difference("SubnetIds", wanted_subnets, seen_subnets)
        if set(seen_subnets) - set(wanted_subnets):
            network["SubnetIds"] = wanted_subnets
            network_changes.append(difference)
        else:
            body["SubnetIds"] = wanted_subnets
            changes.append(difference)
    domain_id = description.get("DomainId")
    if body:
        actions.append(Action("UpdateDomain", Verb.UPDATE, key, tuple(changes),
                              {"DomainId": domain_id, **body}))
    if not network:
        return
    if running_apps:
        shown = ", ".join(sorted(_app_name(app) for app in running_apps)[:5])
        more = f" and {len(running_apps) - 5} more" if len(running_apps) > 5 else ""
        what = " and ".join(f"{c.path} {_show(c.observed)} -> {_show(c.desired)}"
                            for c in network_changes)
        notes.append(f"{key}: {what} waits until no Studio app of the domain runs "
                     f"({len(running_apps)} running: {shown}{more}); AWS refuses it while "
                     "apps are InService, Pending or Deleting, so it is sent once they "
                     "have stopped")
        return
    actions.append(Action(NETWORK_ACTION, Verb.UPDATE, key, tuple(network_changes),
                          {"DomainId": domain_id, **network}))


def network_change_pending(domain: DomainSpec, region: str, refs: ResolvedReferences,
                           description: Mapping[str, Any]) -> bool:
    """Whether the domain's access type must change or it must lose a subnet, so that the
    observer lists its apps (only then: an idle pass makes no such call)."""
    network = domain.networks.get(region)
    if network is None:
        return False
    if description.get("AppNetworkAccessType") != APP_NETWORK_ACCESS:
        return True
    wanted = {refs.subnets.get((network.vpc, name)) for name in network.subnets}
    return bool(set(description.get("SubnetIds") or ()) - wanted)


def plan_profile_update(key: ResourceKey, settings: Mapping[str, Any],
                        description: Mapping[str, Any], domain_id: str | Ref,
                        name: str) -> Action | None:
    target = merged(description.get("UserSettings"), settings)
    changes = scoped_diff(target, description.get("UserSettings"), "UserSettings")
    if not changes:
        return None
    return Action("UpdateUserProfile", Verb.UPDATE, key, tuple(changes),
                  {"DomainId": domain_id, "UserProfileName": name, "UserSettings": target})


def plan_profile_tags(key: ResourceKey, tags: Mapping[str, str],
                      seen: ObservedProfile) -> Action | None:
    """AddTags for the desired tags the profile lacks or holds with another value; tags
    anyone else set are left (never removed)."""
    if not tags or seen.tags is None:
        return None
    changes = tuple(Difference(f"Tags.{k}", v, seen.tags.get(k)) for k, v in sorted(
        tags.items()) if seen.tags.get(k) != v)
    arn = seen.description.get("UserProfileArn")
    if not changes or not arn:
        return None
    return Action("TagUserProfile", Verb.UPDATE, key, changes, {
        "ResourceArn": arn, "Tags": [{"Key": c.path[len("Tags."):], "Value": c.desired}
                                     for c in changes]})


def profile_identity_problems(key: ResourceKey, identity: Mapping[str, str],
                              description: Mapping[str, Any]) -> list[str]:
    """An IAM Identity Center user differing from the profile's: set at creation only."""
    problems = []
    for field, wanted in identity.items():
        held = description.get(field)
        if held != wanted:
            problems.append(f"{key}: {field} is {held!r} in AWS but {wanted!r} is desired; "
                            "SageMaker sets it only when a profile is created (delete and "
                            "recreate the profile to change it)")
    return problems


def unmanaged_profile_notes(unmanaged: Sequence[str]) -> list[str]:
    """One note per domain naming the profiles the desired state does not name."""
    by_domain: dict[str, list[str]] = {}
    for qualified in unmanaged:
        domain, _, name = qualified.partition("/")
        by_domain.setdefault(domain, []).append(name)
    return [f"Domain/{domain}: {len(names)} user profile{'s' * (len(names) != 1)} in the "
            f"region {'are' if len(names) != 1 else 'is'} not in the desired state "
            f"(unmanaged, left as they are): {', '.join(sorted(names))}"
            for domain, names in sorted(by_domain.items())]


def _app_name(app: ObservedApp) -> str:
    owner = app.user_profile or app.space or "?"
    return f"{app.app_type} {app.app_name} ({owner}, {app.status})"


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
