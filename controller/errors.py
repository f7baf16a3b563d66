"""The controller's small error taxonomy.

- DesiredStateError: a revision is refused whole; the last good one stays in force.
- TerminalError: retrying will not help (bad input AWS refused, access denied); the
  resource's condition says why and it is not retried in a hot loop.
- RequeueAfter: an expected wait (a domain still Pending), not a failure.
- LeaseLost: another replica leads now; stop acting.
Anything else raised while acting is retryable with backoff.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a desired-state revision, located for a human."""

    file: str
    line: int
    field: str  # a dotted path inside the document, e.g. "spec.profiles[2].uid"
    message: str  # what is wrong and what is allowed
    # The column (1-based) in a CSV file of profiles; 0 where columns mean nothing (YAML).
    column: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.line and self.column:
            where += f":{self.column}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class DesiredStateError(Exception):
    """The desired state is invalid; every problem found is listed, in a stable order."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = tuple(sorted(problems))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid desired state")


class TerminalError(Exception):
    """Do not retry: the condition records `reason` and the message."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class RequeueAfter(Exception):  # noqa: N818 - it is a result, not an error
    """An expected wait: come back after `seconds`."""

    def __init__(self, seconds: float, reason: str):
        self.seconds = seconds
        self.reason = reason
        super().__init__(f"requeue after {seconds:g}s: {reason}")


class LeaseLost(Exception):  # noqa: N818
    """Another controller replica holds the lease now."""
