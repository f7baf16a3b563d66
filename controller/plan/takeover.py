"""Whether the old active region may fence itself yet: only once the new one took over.

Pure. Fencing stops the old region's Studio apps and denies writes to its copy. Done on
the flag alone, a flip towards a region whose controller is not acting (the region is
down, its service was never deployed, its task crash-loops) would leave nobody serving.
So the old region (the standby now) reads the failover record that the new region's
controller keeps in its own status table (controller.loop.failover, a cross-region read)
and fences only when that record says:

- the new region holds itself active (`activeRegion` is that region),
- it has made its copies its own: phase Steady, Converging or Complete (Converging
  begins when every replica was promoted or its working copy attached; Promoting is not
  enough), and
- it is acting on the very revision this region is looking at, which is what tells a
  takeover of this flip from a stale record of an earlier one.

Or when a person forces it: Estate.spec.failover.fenceWithoutTakeover (for a new region
whose controller cannot record anything, e.g. its status table is gone). A copy already
fenced is past this gate: failback carries on even if the new region stops answering.
"""

from __future__ import annotations

from controller.model import DesiredState, Mode
from controller.observed import ObservedState

TAKEN_OVER_PHASES = ("Steady", "Converging", "Complete")


def takeover_recorded(desired: DesiredState, observed: ObservedState) -> bool:
    takeover = observed.takeover
    active = desired.estate.active_region
    return (takeover is not None and takeover.region == active
            and takeover.active_region == active and takeover.phase in TAKEN_OVER_PHASES
            and takeover.acting_revision == desired.revision)


def awaiting_takeover(desired: DesiredState, observed: ObservedState) -> str | None:
    """Why this (old, standby) region must not fence yet; None when it may, or when there
    is nothing to fence (no old active copy here, or every one is fenced already)."""
    if desired.estate.mode is Mode.ACTIVE_ACTIVE or (
            observed.region == desired.estate.active_region):
        return None
    unfenced = [fs for name, fs in observed.references.file_systems.items()
                if fs is not None and desired.file_systems[name].replicate
                and not fs.is_replica() and fs.fenced_at is None]
    if not unfenced or desired.estate.fence_without_takeover:
        return None
    if takeover_recorded(desired, observed):
        return None
    active = desired.estate.active_region
    takeover = observed.takeover
    if takeover is None or takeover.error:
        seen = (f"its status table could not be read ({takeover.error})"
                if takeover is not None and takeover.error else "its status table was not read")
    elif takeover.active_region is None:
        seen = "it has recorded nothing yet"
    elif takeover.active_region != active:
        seen = f"it still records {takeover.active_region} as active"
    elif takeover.phase not in TAKEN_OVER_PHASES:
        seen = f"it is still {takeover.phase}"
    else:
        seen = (f"it records revision {takeover.acting_revision or 'none'}, not "
                f"{desired.revision}")
    return (f"not fenced yet: waits until {active} has taken over ({seen}); this region "
            "keeps serving meanwhile. Set spec.failover.fenceWithoutTakeover to fence anyway")
