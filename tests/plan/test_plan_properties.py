"""Properties of the planner over generated estates (hypothesis)."""

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model import DesiredState
from controller.plan import make_plan
from controller.plan.render import render_json
from controller.plan.types import KIND_ORDER, Kind
from tests.plan.estates import converged, empty, estates


def _shuffled(desired: DesiredState, seed: int) -> DesiredState:
    """The same estate with every mapping built in another insertion order."""
    rng = random.Random(seed)

    def shuffle(mapping):
        items = list(mapping.items())
        rng.shuffle(items)
        return dict(items)

    return replace(desired, domains=shuffle(desired.domains), profiles=shuffle(desired.profiles),
                   shares=shuffle(desired.shares), file_systems=shuffle(desired.file_systems))


@settings(max_examples=60, deadline=None)
@given(estates(), st.integers(0, 2**16))
def test_the_plan_is_deterministic_and_independent_of_document_order(desired, seed):
    first = make_plan(desired, empty())
    again = make_plan(_shuffled(desired, seed), empty())
    assert render_json(first) == render_json(again)


@settings(max_examples=60, deadline=None)
@given(estates())
def test_actions_are_stably_ordered_by_kind_then_name(desired):
    plan = make_plan(desired, empty())
    order = {kind: index for index, kind in enumerate(KIND_ORDER)}
    keys = [(order[Kind(a.key.kind)], a.key.name) for a in plan.actions]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys), "each resource appears once"


@settings(max_examples=60, deadline=None)
@given(estates())
def test_a_region_holding_exactly_the_desired_state_plans_nothing(desired):
    assert make_plan(desired, converged(desired)).actions == ()


@settings(max_examples=60, deadline=None)
@given(estates())
def test_every_desired_resource_is_created_in_an_empty_region(desired):
    plan = make_plan(desired, empty())
    created = {(a.key.kind, a.key.name) for a in plan.actions}
    assert {(Kind.DOMAIN, d) for d in desired.domains} <= created
    assert {(Kind.USER_PROFILE, p) for p in desired.profiles} <= created
    assert {(Kind.DIRECTORY, d.key_name) for d in desired.share_directories()} <= created
