"""The removal guard: a revision that would delete a large share of the estate waits for
a person to confirm it. Pure.

The share is the profiles and domains the prune would delete over every managed profile
and domain of the region (those included). Above safety.maxRemovalPercent the deletion
is held: nothing of it runs, the plan names the revision and what it would delete, and
the status store keeps that record (the revision that asked, and the keys). A later
revision whose safety.confirmRemoval names the held revision (a prefix of at least 7
characters will do) lets it go ahead, as long as it deletes nothing beyond what the held
revision would have: a confirmation never covers a larger deletion that came after it.
A deletion within the limit needs no confirmation.
"""

from __future__ import annotations

from dataclasses import replace

from controller.model import DesiredState
from controller.observed import ObservedState, RemovalHold
from controller.plan.prune import DELETION_ACTIONS
from controller.plan.types import Action, Plan, RemovalCheck


def check_removals(desired: DesiredState, observed: ObservedState,
                   keys: frozenset[str]) -> RemovalCheck:
    """The guard's verdict for a prune deleting `keys`."""
    limit = desired.estate.safety.max_removal_fraction
    total = len(observed.profiles) + len(observed.domains) + len(keys)
    if not keys:
        return RemovalCheck(keys, total, limit, held=False)
    hold = observed.removal_hold
    covered = hold is not None and keys <= hold.keys
    if covered and hold is not None and confirms(desired.estate.safety.confirm_removal,
                                                 hold.revision):
        return RemovalCheck(keys, total, limit, held=False, record=hold)
    if len(keys) <= limit * total:
        return RemovalCheck(keys, total, limit, held=False)
    # Held: keep the first revision that asked for (at least) this much, so that its
    # confirmation, committed later, still applies.
    record = hold if covered and hold is not None else RemovalHold(
        desired.revision, keys, observed.observed_at)
    return RemovalCheck(keys, total, limit, held=True, record=record)


def confirms(confirmation: str | None, revision: str) -> bool:
    """Whether the desired state's confirmRemoval names `revision`."""
    if not confirmation or len(confirmation) < 7:
        return False
    return revision.startswith(confirmation) or revision.removeprefix("sha256:").startswith(
        confirmation.removeprefix("sha256:"))


def apply_guard(plan: Plan, check: RemovalCheck) -> Plan:
    """The plan with the deletions taken out into `held` when the guard holds them."""
    if not check.held or check.record is None:
        return replace(plan, removal=check)
    kept: list[Action] = [a for a in plan.actions if a.name not in DELETION_ACTIONS]
    held = tuple(a for a in plan.actions if a.name in DELETION_ACTIONS)
    percent = 100 * check.fraction
    problem = (f"Estate: prune held: revision {check.record.revision} would delete "
               f"{len(check.keys)} of the {check.total} managed user profiles and domains "
               f"in {plan.region} ({percent:.0f}%, over safety.maxRemovalPercent "
               f"{100 * check.limit:g}%): {', '.join(sorted(check.keys)[:10])}"
               f"{' ...' if len(check.keys) > 10 else ''}. Nothing is deleted until the "
               f"desired state confirms it with spec.safety.confirmRemoval: "
               f"{check.record.revision}")
    return replace(plan, actions=tuple(kept), held=held, removal=check,
                   problems=(*plan.problems, problem))
