"""CreateUserProfile and UpdateUserProfile.

A profile is made only in a domain that is InService; a create that finds the name
taken counts as done (the next pass compares its settings). Tags are added, never
removed. Deleting a profile is prune's (controller.actions.prune).

A create's request is remembered as the profile's description (observe.cache), so the
next pass need not describe it. An update planned from such a partial description (or
from the status store's record) describes the profile first and lays the update over
what AWS holds, so settings others set beside the operator's are sent back intact.
"""

from __future__ import annotations

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter
from controller.observe.sagemaker import profile_key
from controller.plan.studio_updates import merged
from controller.plan.types import Action

_IN_USE = ("ResourceInUse", "ResourceInUseException")


def _domain_ready(action: Action, ctx: ExecutionContext) -> None:
    domain = action.key.name.split("/", 1)[0]
    status = ctx.domain_status_of(domain)
    if status != "InService":
        raise RequeueAfter(SETTLE_SECONDS, f"domain {domain} is {status or 'not there yet'}")


def create_user_profile(action: Action, ctx: ExecutionContext) -> str:
    _domain_ready(action, ctx)
    request = ctx.resolve(dict(action.params))
    tags = [*MANAGED_TAGS, *request.pop("Tags", [])]
    try:
        ctx.client("sagemaker").create_user_profile(**request, Tags=tags)
    except Exception as error:
        if error_code(error) in _IN_USE:
            return "already exists (adopted)"
        raise classify(error) from error
    if ctx.describes is not None:
        ctx.describes.remember_sent(
            profile_key(ctx.region, request["DomainId"], request["UserProfileName"]),
            dict(request))
    return "created"


def update_user_profile(action: Action, ctx: ExecutionContext) -> str:
    _domain_ready(action, ctx)
    request = ctx.resolve(dict(action.params))
    key = profile_key(ctx.region, request["DomainId"], request["UserProfileName"])
    sagemaker = ctx.client("sagemaker")
    try:
        if ctx.describes is not None and not ctx.describes.is_complete(key):
            held = sagemaker.describe_user_profile(DomainId=request["DomainId"],
                                                   UserProfileName=request["UserProfileName"])
            request["UserSettings"] = merged(held.get("UserSettings"), request["UserSettings"])
        sagemaker.update_user_profile(**request)
    except Exception as error:
        if error_code(error) in _IN_USE:
            raise RequeueAfter(SETTLE_SECONDS, "profile is busy (ResourceInUse)") from error
        raise classify(error) from error
    if ctx.describes is not None:
        ctx.describes.forget(key)  # its LastModifiedTime moves: described next pass
    return "updated"


def tag_user_profile(action: Action, ctx: ExecutionContext) -> str:
    """AddTags with the desired tags the profile lacks; never removes anyone's tags."""
    try:
        ctx.client("sagemaker").add_tags(ResourceArn=action.params["ResourceArn"],
                                         Tags=list(action.params["Tags"]))
    except Exception as error:
        raise classify(error) from error
    return f"tagged {', '.join(t['Key'] for t in action.params['Tags'])}"
