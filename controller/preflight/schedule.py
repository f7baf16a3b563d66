"""The running controller's preflight: every few minutes, not on every pass, the leader
asks whether a failover into the standby region would work, and exports the answer.

Both regions' controllers run it about the same failover (into the region the flag does
not point at): the active region's sees the standby from outside (a dead standby
controller's lease goes stale there), the standby's from inside. Metrics:
studio_operator_preflight_check{check, target_region} (1 ok, 0 failing or unknown) and
studio_operator_preflight_last_run_timestamp_seconds. A check that starts failing is
logged once as a warning with what to do, and once more when it passes again. A
preflight that raises never stops the controller (its timestamp goes stale: an alert
says so).
"""

from __future__ import annotations

from controller.clock import Clock
from controller.gateway import AwsGateway
from controller.logs import get_logger
from controller.metrics import PREFLIGHT_CHECK, PREFLIGHT_CHECKED
from controller.model import DesiredState
from controller.preflight import run_preflight
from controller.preflight.report import PreflightReport

DEFAULT_INTERVAL_SECONDS = 300.0


class PreflightSchedule:
    def __init__(self, gateway: AwsGateway, region: str, status_table: str, clock: Clock,
                 interval_seconds: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.gateway = gateway
        self.status_table = status_table
        self.clock = clock
        self.interval = interval_seconds
        self.log = get_logger(region=region)
        self._next = 0.0  # monotonic: the first run comes with the first pass
        self._failing: dict[str, tuple[str, ...]] = {}  # check -> details last logged

    def maybe_run(self, desired: DesiredState) -> PreflightReport | None:
        """Run when due (never more often than the interval); the report, or None."""
        if self.interval <= 0 or self.clock.monotonic() < self._next:
            return None
        self._next = self.clock.monotonic() + self.interval
        target = desired.estate.standby_region()
        try:
            report = run_preflight(self.gateway, desired, target, self.status_table,
                                   now=self.clock.now())
        except Exception as error:  # a bug must not stop the controller; the age shows it
            self.log.error("preflight_failed", target_region=target,
                           error=f"{type(error).__name__}: {error}", exc_info=True)
            return None
        self._export(report)
        return report

    def _export(self, report: PreflightReport) -> None:
        PREFLIGHT_CHECK.clear()  # a flip changes the target: no stale series of the old one
        for result in report.results:
            PREFLIGHT_CHECK.labels(result.check, report.target_region).set(
                1 if result.ok else 0)
        PREFLIGHT_CHECKED.set(report.checked_at)
        failing = {r.check: r for r in report.results if not r.ok}
        for check, result in sorted(failing.items()):
            if self._failing.get(check) != result.details:
                self.log.warning("preflight_check_failing", check=check,
                                 target_region=report.target_region,
                                 status=str(result.status), details=list(result.details),
                                 remedy=result.remedy)
        for check in sorted(set(self._failing) - set(failing)):
            self.log.info("preflight_check_passing", check=check,
                          target_region=report.target_region)
        self._failing = {check: r.details for check, r in failing.items()}
        self.log.info("preflight", target_region=report.target_region, ready=report.ready,
                      failing=sorted(failing))
