"""EnsureLifecycleConfig: the space backup/restore script as a Studio lifecycle config.

Names carry a hash of the script, so a changed script is a new config and an existing
name already holds exactly this content: a create that finds the name taken is done.
The config's ARN, as AWS gives it, is learned for the domain update that attaches it
(the operator never builds an ARN: the partition is AWS's to say). Old configs are left
in place (domains may still refer to them until updated).
"""

from __future__ import annotations

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, ExecutionContext
from controller.plan.types import Action, Kind


def ensure_lifecycle_config(action: Action, ctx: ExecutionContext) -> str:
    sagemaker = ctx.client("sagemaker")
    name = action.params["StudioLifecycleConfigName"]
    try:
        arn = sagemaker.create_studio_lifecycle_config(
            **action.params, Tags=MANAGED_TAGS)["StudioLifecycleConfigArn"]
        outcome = f"created for {action.params['StudioLifecycleConfigAppType']}"
    except Exception as error:
        if error_code(error) not in ("ResourceInUse", "ResourceInUseException"):
            raise classify(error) from error
        arn, outcome = _listed_arn(ctx, name), "already there"
    ctx.learn(Kind.LIFECYCLE_CONFIG, name, "StudioLifecycleConfigArn", arn)
    return outcome


def _listed_arn(ctx: ExecutionContext, name: str) -> str:
    paginator = ctx.client("sagemaker").get_paginator("list_studio_lifecycle_configs")
    for page in paginator.paginate(NameContains=name, PaginationConfig={"PageSize": 100}):
        for config in page["StudioLifecycleConfigs"]:
            if config["StudioLifecycleConfigName"] == name:
                return str(config["StudioLifecycleConfigArn"])
    raise LookupError(f"Studio lifecycle config {name} exists but is not listed yet")
