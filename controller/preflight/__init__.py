"""The disaster-recovery readiness check: if the active-region flag flipped now, would the
failover into the other region work?

`run_preflight` reads the target region (controller.preflight.read) and judges it
(controller.preflight.checks, pure); `studioctl preflight` prints the report with an
exit code for CI, and the running controller exports it as metrics every few minutes
(controller.preflight.schedule). Reads only: a preflight never changes AWS.
"""

from __future__ import annotations

import time

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.preflight.checks import CHECK_NAMES, judge
from controller.preflight.read import gather
from controller.preflight.report import PreflightReport, Status

__all__ = ["CHECK_NAMES", "PreflightReport", "Status", "run_preflight"]


def run_preflight(gateway: AwsGateway, desired: DesiredState, target: str,
                  status_table: str, now: float | None = None) -> PreflightReport:
    """Would a failover into `target` (not the active region) work now?"""
    if target == desired.estate.active_region:
        raise ValueError(f"{target} is the active region already: a flip of the flag would "
                         f"make {desired.estate.standby_region()} active")
    return judge(gather(gateway, desired, target, status_table,
                        time.time() if now is None else now))
