"""When the other region counts as unreachable, from the passes' reads of it.

Promoting a replica deletes its replication configuration. The default deletion
(ALL_CONFIGURATIONS) removes both sides and needs the source's region to answer;
LOCAL_CONFIGURATION_ONLY removes only this side and leaves the other one orphaned,
"unrecoverable" in EFS's words, for the old region to delete when it is back. So the
local-only deletion is the tool for an outage, not for a blip, and the region must be
classified unreachable first:

    every pass that read the other region failed as an outage does (no connection, a
    timeout, a server error after botocore's own retries), for at least
    `after_seconds` on the controller's clock, over at least `passes` passes.

One pass that reads it, or fails otherwise (access denied, throttling: the region is
there), starts the count again. The defaults (120 s, 2 passes) are long against
botocore's retries and a transient API blip (seconds), and short against the recovery
time a regional outage is measured in (tens of minutes): being wrong costs an orphaned
configuration that the old region cleans up on return, never data. This module does
no I/O; the clock is injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.clock import Clock

UNREACHABLE_AFTER_SECONDS = 120.0
UNREACHABLE_AFTER_PASSES = 2


@dataclass
class _Streak:
    since: float
    passes: int = 1


@dataclass
class RegionReachability:
    clock: Clock
    after_seconds: float = UNREACHABLE_AFTER_SECONDS
    passes: int = UNREACHABLE_AFTER_PASSES
    _streaks: dict[str, _Streak] = field(default_factory=dict)

    def record(self, region: str, outcome: str) -> None:
        """One pass's read of `region`: "ok", "unreachable", "refused", or "" (not read:
        nothing is learnt, the count stays as it was)."""
        if not outcome:
            return
        if outcome != "unreachable":
            self._streaks.pop(region, None)
            return
        streak = self._streaks.get(region)
        if streak is None:
            self._streaks[region] = _Streak(self.clock.now())
        else:
            streak.passes += 1

    def unreachable(self) -> frozenset[str]:
        now = self.clock.now()
        return frozenset(region for region, streak in self._streaks.items()
                         if streak.passes >= self.passes
                         and now - streak.since >= self.after_seconds)

    def down_since(self, region: str) -> float | None:
        streak = self._streaks.get(region)
        return streak.since if streak is not None else None
