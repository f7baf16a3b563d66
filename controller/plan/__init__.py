"""Diff and plan: pure functions from (desired, observed) to an ordered Plan."""

from controller.plan.planner import make_plan
from controller.plan.render import render_json, render_text
from controller.plan.types import Action, Difference, Kind, Plan, Ref, ResourceKey, Verb

__all__ = ["Action", "Difference", "Kind", "Plan", "Ref", "ResourceKey", "Verb", "make_plan",
           "render_json", "render_text"]
