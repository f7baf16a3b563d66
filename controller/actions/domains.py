"""CreateDomain, UpdateDomain and UpdateDomainNetwork.

A create that finds the name taken adopts the existing domain (a previous run may have
been killed after AWS made it); an update waits while the domain is not InService.
UpdateDomainNetwork (access type, removed subnets) is planned only when no app ran; an
app started since makes AWS refuse it (ResourceInUse), and it waits for the next pass.
Never deletes a domain.
"""

from __future__ import annotations

from controller.actions.classify import classify, error_code
from controller.actions.context import MANAGED_TAGS, SETTLE_SECONDS, ExecutionContext
from controller.errors import RequeueAfter
from controller.plan.types import Action, Kind

WAIT_STATES = ("Pending", "Updating")


def create_domain(action: Action, ctx: ExecutionContext) -> str:
    sagemaker = ctx.client("sagemaker")
    request = ctx.resolve(dict(action.params))
    try:
        response = sagemaker.create_domain(**request, Tags=MANAGED_TAGS)
        domain_id = response.get("DomainId") or response["DomainArn"].rsplit("/", 1)[1]
        outcome = f"created {domain_id}"
    except Exception as error:
        if error_code(error) not in ("ResourceInUse", "ResourceInUseException"):
            raise classify(error) from error
        domain_id = _find_domain_id(ctx, action.key.name)
        if domain_id is None:
            raise
        outcome = f"adopted {domain_id}"
    ctx.learn(Kind.DOMAIN, action.key.name, "DomainId", domain_id)
    status = sagemaker.describe_domain(DomainId=domain_id).get("Status", "Unknown")
    ctx.set_domain_status(action.key.name, status)
    return f"{outcome} ({status})"


def update_domain(action: Action, ctx: ExecutionContext) -> str:
    status = ctx.domain_status_of(action.key.name)
    if status in WAIT_STATES:
        raise RequeueAfter(SETTLE_SECONDS, f"domain is {status}")
    request = ctx.resolve(dict(action.params))
    try:
        ctx.client("sagemaker").update_domain(**request)
    except Exception as error:
        if error_code(error) in ("ResourceInUse", "ResourceInUseException"):
            raise RequeueAfter(SETTLE_SECONDS, "domain is busy (ResourceInUse)") from error
        raise classify(error) from error
    ctx.set_domain_status(action.key.name, "Updating")
    return f"updated {request['DomainId']}"


def update_domain_network(action: Action, ctx: ExecutionContext) -> str:
    """The part of an update AWS accepts only while no app of the domain runs."""
    outcome = update_domain(action, ctx)
    changed = ", ".join(k for k in ("AppNetworkAccessType", "SubnetIds") if k in action.params)
    return f"{outcome} ({changed})"


def _find_domain_id(ctx: ExecutionContext, name: str) -> str | None:
    paginator = ctx.client("sagemaker").get_paginator("list_domains")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        for summary in page["Domains"]:
            if summary["DomainName"] == name and summary.get("Status") != "Deleting":
                return str(summary["DomainId"])
    return None
