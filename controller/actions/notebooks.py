"""Create, stop, update, start and tag notebook instances; create their backup configs.

AWS answers a request the instance's current status does not allow ("Status (Pending)
not in ([Stopped]). Unable to transition to (Updating) ...") with ValidationException;
that is a race with AWS or the instance's user, so it is an expected wait here, not a
terminal error. Stopping a running instance for an update marks it first (a tag), so that
whoever plans next, this controller after a restart included, starts it again once
updated; starting it again clears the mark. A migration's old instance is deleted only
after this executor has itself seen the new instance's restore marker in S3 and the old
instance sealed (its volume in a complete snapshot made after its last stop) and tagged
as the NotebookInstance's: the plan's word is not enough (controller.actions
.notebook_guard).
"""

from __future__ import annotations

from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import SETTLE_SECONDS, ExecutionContext
from controller.actions.notebook_guard import check_restored, check_sealed
from controller.errors import RequeueAfter, TerminalError
from controller.notebooks.spec import NOTEBOOK_TAG, RESTART_TAG
from controller.plan.types import Action


def _call(ctx: ExecutionContext, operation: str, **request: Any) -> Any:
    try:
        return getattr(ctx.client("sagemaker"), operation)(**request)
    except Exception as error:
        message = str(getattr(error, "response", {}).get("Error", {}).get("Message", ""))
        if error_code(error) == "ValidationException" and message.startswith("Status ("):
            raise RequeueAfter(SETTLE_SECONDS, f"notebook instance is busy: {message}") from error
        raise classify(error) from error


def create_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    request = ctx.resolve(dict(action.params))
    try:
        arn = ctx.client("sagemaker").create_notebook_instance(**request)["NotebookInstanceArn"]
    except Exception as error:
        message = str(getattr(error, "response", {}).get("Error", {}).get("Message", ""))
        if error_code(error) == "ValidationException" and "duplicate" in message:
            return "already exists (the next pass compares its settings)"
        raise classify(error) from error
    return f"created {arn} (Pending)"


def create_notebook_lifecycle_config(action: Action, ctx: ExecutionContext) -> str:
    name = action.params["NotebookInstanceLifecycleConfigName"]
    try:
        ctx.client("sagemaker").create_notebook_instance_lifecycle_config(**action.params)
    except Exception as error:
        message = str(getattr(error, "response", {}).get("Error", {}).get("Message", ""))
        # Its name is its script's hash: one that exists holds this very script.
        if error_code(error) == "ValidationException" and "already exists" in message:
            return f"backup lifecycle config {name} already exists"
        raise classify(error) from error
    return f"created backup lifecycle config {name}"


def update_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    _call(ctx, "update_notebook_instance", **action.params)
    fields = ", ".join(sorted(k for k in action.params if k != "NotebookInstanceName"))
    return f"updating {fields}"


def stop_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    if params.get("RestartAfterUpdate"):
        # Written before the stop: a controller killed right after it still restarts it.
        _call(ctx, "add_tags", ResourceArn=params["ResourceArn"],
              Tags=[{"Key": RESTART_TAG, "Value": "true"}])
    _call(ctx, "stop_notebook_instance", NotebookInstanceName=params["NotebookInstanceName"])
    if params.get("Reason"):
        return f"stopping {params['NotebookInstanceName']}: {params['Reason']}"
    return "stopping to update it; it is started again once updated"


def start_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    _call(ctx, "start_notebook_instance",
          NotebookInstanceName=action.params["NotebookInstanceName"])
    if action.params.get("Reason"):
        return f"starting {action.params['NotebookInstanceName']}: {action.params['Reason']}"
    return "starting again after its update"


def delete_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    """A migration's old instance, once its replacement has restored and it is sealed
    (both checked here, by controller.actions.notebook_guard)."""
    params = action.params
    name, new = params["NotebookInstanceName"], params["NewInstance"]
    sagemaker = ctx.client("sagemaker")
    check_restored(ctx.client("s3"), sagemaker, params)
    try:
        described = sagemaker.describe_notebook_instance(NotebookInstanceName=name)
        tags = sagemaker.list_tags(ResourceArn=described["NotebookInstanceArn"])["Tags"]
    except Exception as error:
        if error_code(error) == "ValidationException":
            return f"{name} is already gone"
        raise classify(error) from error
    if {t["Key"]: t.get("Value") for t in tags}.get(NOTEBOOK_TAG) != params["Notebook"]:
        raise TerminalError("NotOurs", f"{name} is not deleted: it is not tagged "
                                       f"{NOTEBOOK_TAG}={params['Notebook']}")
    check_sealed(ctx.client("s3"), params, described)
    _call(ctx, "delete_notebook_instance", NotebookInstanceName=name)
    return (f"deleting {name}: {new} has restored its data, and {name}'s volume is in the "
            f"held snapshot {params['FinalSnapshot']} (spec.migration.deleteOld)")


def tag_notebook_instance(action: Action, ctx: ExecutionContext) -> str:
    params = action.params
    if params["Add"]:
        _call(ctx, "add_tags", ResourceArn=params["ResourceArn"], Tags=list(params["Add"]))
    if params["Remove"]:
        _call(ctx, "delete_tags", ResourceArn=params["ResourceArn"],
              TagKeys=list(params["Remove"]))
    return f"tags: {len(params['Add'])} set, {len(params['Remove'])} removed"
