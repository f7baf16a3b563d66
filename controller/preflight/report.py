"""A preflight's answer: one result per check, the verdict, the exit code, and how it is
written for people (text) and programs (JSON). Pure.

Statuses: `pass`; `skip` (nothing to check, or a dependency already failed and is
reported once, at its root: neither stands in a failover's way); `fail` (the failover
would not work as things stand: the result says what to do); `error` (it could not be
checked: AWS unreachable, access denied). Exit codes for CI: 0 ready, 1 not ready (a
check failed), 2 could not check (no failure known, but a check could not be made).
In the text, every name that came from AWS or the desired state is escaped
(controller.escaping): one line per finding, whatever a Name tag holds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum

from controller.escaping import escape

EXIT_READY, EXIT_NOT_READY, EXIT_UNKNOWN = 0, 1, 2


class Status(StrEnum):
    PASS = "pass"
    SKIP = "skip"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    details: tuple[str, ...] = ()  # what was found, one finding each
    remedy: str = ""  # what to do, when it failed or could not be checked

    @property
    def ok(self) -> bool:
        """Not in a failover's way: passed, or nothing to check."""
        return self.status in (Status.PASS, Status.SKIP)


@dataclass(frozen=True)
class PreflightReport:
    active_region: str
    target_region: str
    checked_at: float
    results: tuple[CheckResult, ...]

    @property
    def failing(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status is Status.FAIL)

    @property
    def unchecked(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status is Status.ERROR)

    @property
    def ready(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def exit_code(self) -> int:
        if self.failing:
            return EXIT_NOT_READY
        return EXIT_UNKNOWN if self.unchecked else EXIT_READY


_MARK = {Status.PASS: "ok", Status.SKIP: "skip", Status.FAIL: "FAIL", Status.ERROR: "ERROR"}


def render_text(report: PreflightReport) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(report.checked_at))
    lines = [f"Failover readiness: if activeRegion flipped from {report.active_region} to "
             f"{report.target_region} now (checked {when})"]
    width = max(len(r.check) for r in report.results) if report.results else 0
    for result in report.results:
        details = result.details or ("",)
        lines.append(f"  {_MARK[result.status]:<5} {result.check:<{width}}  "
                     f"{escape(details[0])}".rstrip())
        indent = " " * (width + 10)  # under the first finding
        lines += [f"{indent}{escape(d)}" for d in details[1:]]
        if result.remedy and not result.ok:
            lines.append(f"{indent}what to do: {escape(result.remedy)}")
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


def _verdict(report: PreflightReport) -> str:
    total = len(report.results)
    if report.failing:
        names = ", ".join(r.check for r in report.failing)
        return f"not ready: {len(report.failing)} of {total} checks fail ({names})"
    if report.unchecked:
        names = ", ".join(r.check for r in report.unchecked)
        return f"unknown: {len(report.unchecked)} of {total} checks could not be made ({names})"
    return f"ready: {total} of {total} checks pass or have nothing to check"


def render_json(report: PreflightReport) -> str:
    return json.dumps({
        "activeRegion": report.active_region,
        "targetRegion": report.target_region,
        "checkedAt": report.checked_at,
        "ready": report.ready,
        "exitCode": report.exit_code,
        "checks": [{"check": r.check, "status": str(r.status), "details": list(r.details),
                    "remedy": r.remedy} for r in report.results],
    }, indent=2) + "\n"
