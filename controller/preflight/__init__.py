"""The disaster-recovery readiness check: if the active-region flag flipped now, would the
failover into the other region work?

`run_preflight` reads the target region (controller.preflight.read) and judges it
(controller.preflight.checks, pure); `studioctl preflight` prints the report with an
exit code for CI, and the running controller exports it as metrics every few minutes
(controller.preflight.schedule). Reads only: a preflight never changes AWS.
"""

from __future__ import annotations

import os
import time

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.preflight.checks import CHECK_NAMES, judge
from controller.preflight.read import gather
from controller.preflight.report import PreflightReport, Status

__all__ = ["CHECK_NAMES", "PASSABLE_ROLES_ENV", "PreflightReport", "Status",
           "passable_roles", "run_preflight"]

# The role ARNs (comma-separated, IAM wildcards allowed) the controller's stack lets it
# pass to SageMaker: its task definition sets this from the stack's parameters.
PASSABLE_ROLES_ENV = "STUDIO_OPERATOR_PASSABLE_ROLES"


def passable_roles(text: str | None = None) -> tuple[str, ...] | None:
    """The patterns in `text` (default: $STUDIO_OPERATOR_PASSABLE_ROLES); None if unset."""
    text = os.environ.get(PASSABLE_ROLES_ENV) if text is None else text
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


def run_preflight(gateway: AwsGateway, desired: DesiredState, target: str,
                  status_table: str, now: float | None = None,
                  passable: tuple[str, ...] | None = None) -> PreflightReport:
    """Would a failover into `target` (not the active region) work now? `passable`: the
    roles the controller may pass (default: from the environment, see passable_roles)."""
    if target == desired.estate.active_region:
        raise ValueError(f"{target} is the active region already: a flip of the flag would "
                         f"make {desired.estate.standby_region()} active")
    return judge(gather(gateway, desired, target, status_table,
                        time.time() if now is None else now,
                        passable if passable is not None else passable_roles()))
