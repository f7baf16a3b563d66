"""A plan for people (text, like a good terraform plan) and for programs (JSON).

Pure formatting; no I/O beyond returning strings.
"""

from __future__ import annotations

import json
from typing import Any

from controller.plan.types import Action, Plan, Ref, Verb

_SYMBOL = {Verb.CREATE: "+", Verb.UPDATE: "~", Verb.DELETE: "-"}


def render_text(plan: Plan) -> str:
    lines = [f"Region {plan.region} ({plan.role}), desired-state revision {plan.revision}", ""]
    if plan.actions:
        lines.append("studio-operator will perform these actions:")
        lines.append("")
        for action in plan.actions:
            lines.extend(_action_lines(action))
            lines.append("")
    for problem in plan.problems:
        lines.append(f"  ! {problem}")
    if plan.problems:
        lines.append("")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    if plan.notes:
        lines.append("")
    if plan.actions:
        lines.append(f"Plan: {plan.count(Verb.CREATE)} to create, {plan.count(Verb.UPDATE)} "
                     f"to update, {plan.count(Verb.DELETE)} to delete.")
    elif plan.notes:
        # Notes may say what AWS holds beyond the desired state (unmanaged profiles) or
        # what waits: "matches" would hide them.
        lines.append("No changes to make now; see the notes above.")
    else:
        lines.append("No changes. The region matches the desired state.")
    if plan.problems:
        lines.append(f"{len(plan.problems)} problem(s) need attention (marked !).")
    return "\n".join(lines) + "\n"


def _action_lines(action: Action) -> list[str]:
    symbol = _SYMBOL[action.verb]
    lines = [f"  {symbol} {action.key}  ({action.name})"]
    for change in action.changes:
        if action.verb is Verb.CREATE:
            lines.append(f"      + {change.path}: {_show(change.desired)}")
        else:
            lines.append(f"      ~ {change.path}: {_show(change.observed)} -> "
                         f"{_show(change.desired)}")
    for ref in action.after:
        lines.append(f"      (after {ref.kind}/{ref.name} in this pass)")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Ref):
        return str(value)
    return json.dumps(to_jsonable(value), sort_keys=False)


def to_jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def render_json(plan: Plan) -> str:
    document = {
        "region": plan.region,
        "role": plan.role,
        "revision": plan.revision,
        "actions": [
            {
                "action": action.name,
                "verb": action.verb.value,
                "kind": action.key.kind,
                "name": action.key.name,
                "region": action.key.region,
                "changes": [
                    {"path": c.path, "desired": to_jsonable(c.desired),
                     "observed": to_jsonable(c.observed)}
                    for c in action.changes
                ],
                "params": to_jsonable(dict(action.params)),
            }
            for action in plan.actions
        ],
        "problems": list(plan.problems),
        "notes": list(plan.notes),
        "summary": {verb.value: plan.count(verb) for verb in Verb},
    }
    return json.dumps(document, indent=2, default=str) + "\n"
