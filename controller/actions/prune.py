"""Prune's executors: delete one app, space, profile or domain, or wait (the final
snapshot is controller.actions.final_snapshot). Each does one call and returns; AWS's
Deleting states are waited for by requeueing (RequeueAfter), never in the pass.

Only what controller.plan.prune planned reaches here: resources the operator manages
that the desired state no longer holds, in order. A domain is deleted with its home EFS
retained (RetentionPolicy Retain): nothing here ever deletes a file system or a file.
"""

from __future__ import annotations

from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter, TerminalError
from controller.plan.types import Action

_NOT_FOUND = ("ResourceNotFound", "ResourceNotFoundException")
_IN_USE = ("ResourceInUse", "ResourceInUseException")


def delete_app(action: Action, ctx: ExecutionContext) -> str:
    return _delete(ctx, "delete_app", action.params, "app")


def delete_space(action: Action, ctx: ExecutionContext) -> str:
    return _delete(ctx, "delete_space", action.params, "space")


def delete_user_profile(action: Action, ctx: ExecutionContext) -> str:
    return _delete(ctx, "delete_user_profile", action.params, "user profile")


def delete_domain(action: Action, ctx: ExecutionContext) -> str:
    retention = action.params.get("RetentionPolicy", {}).get("HomeEfsFileSystem")
    if retention != "Retain":  # the plan always asks for it; never lose a file system
        raise TerminalError("Refused", "a domain is only ever deleted with its home EFS "
                                       "retained (RetentionPolicy HomeEfsFileSystem=Retain)")
    return _delete(ctx, "delete_domain", action.params, "domain")


def await_deletion(action: Action, ctx: ExecutionContext) -> str:
    raise RequeueAfter(SETTLE_SECONDS, f"{action.params['What']} is {action.params['Status']}; "
                                       "waiting for AWS to finish")


def _delete(ctx: ExecutionContext, operation: str, params: Any, what: str) -> str:
    request = {k: v for k, v in dict(params).items() if k not in ("What", "Status")}
    try:
        getattr(ctx.client("sagemaker"), operation)(**request)
    except Exception as error:
        code = error_code(error)
        if code in _NOT_FOUND:
            return f"{what} already gone"
        if code in _IN_USE:
            raise RequeueAfter(SETTLE_SECONDS, f"{what} is busy (ResourceInUse)") from error
        raise classify(error) from error
    return f"{what} deleting"
