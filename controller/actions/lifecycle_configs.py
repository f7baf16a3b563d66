"""EnsureLifecycleConfig: the space backup/restore script as a Studio lifecycle config.

Names carry a hash of the script, so a changed script is a new config and an existing
name already holds exactly this content: a create that finds the name taken is done.
Old configs are left in place (domains may still refer to them until updated).
"""

from __future__ import annotations

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, ExecutionContext
from controller.plan.types import Action


def ensure_lifecycle_config(action: Action, ctx: ExecutionContext) -> str:
    try:
        ctx.client("sagemaker").create_studio_lifecycle_config(**action.params, Tags=MANAGED_TAGS)
    except Exception as error:
        if error_code(error) in ("ResourceInUse", "ResourceInUseException"):
            return "already there"
        raise classify(error) from error
    return f"created for {action.params['StudioLifecycleConfigAppType']}"
