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
    for title, held in (("suspended (observed and reported; not made while suspended):",
                         plan.suspended),
                        ("held by the removal guard (not made until confirmed):", plan.held)):
        if held:
            lines.append(title)
            lines.append("")
            for action in held:
                lines.extend(f"  #{line[1:]}" if line.startswith("  ") else line
                             for line in _action_lines(action))
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
    elif plan.suspended or plan.held:
        lines.append(f"No changes to make now: {len(plan.suspended)} suspended, "
                     f"{len(plan.held)} held (marked #).")
    elif plan.waiting:
        lines.append(f"Nothing to do now: {len(plan.waiting)} resource(s) wait for what they "
                     "need (see the notes).")
    elif plan.notes:
        # Notes may say what AWS holds beyond the desired state (unmanaged profiles):
        # "matches" would hide them.
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
        elif action.verb is Verb.DELETE and change.desired is None:
            lines.append(f"      - {change.path}: {_show(change.observed)}")
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


def _action_json(action: Action) -> dict[str, Any]:
    return {
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


def render_json(plan: Plan) -> str:
    removal = plan.removal
    document = {
        "region": plan.region,
        "role": plan.role,
        "revision": plan.revision,
        "actions": [_action_json(action) for action in plan.actions],
        "suspended": [_action_json(action) for action in plan.suspended],
        "held": [_action_json(action) for action in plan.held],
        "removal": None if removal is None or not removal.keys else {
            "keys": sorted(removal.keys), "total": removal.total,
            "limitPercent": 100 * removal.limit, "held": removal.held,
            "revision": removal.record.revision if removal.record else None},
        "problems": list(plan.problems),
        "notes": list(plan.notes),
        "waiting": [{"resource": resource, "reason": reason}
                    for resource, reason in plan.waiting],
        "summary": {verb.value: plan.count(verb) for verb in Verb},
    }
    return json.dumps(document, indent=2, default=str) + "\n"
