"""A small evaluator of the template's Allow statements at resource level: does a role,
rendered with one stack's parameter values, allow this action on this resource ARN with
this request context?

The action-level check (test_controller_template) proves every call is granted somewhere;
this one proves the grant reaches the resource the call touched: the other region's
cluster, a bucket's movers/relay/ prefix, a role passed. Only what the template uses is
understood (Fn::Sub with names, Ref, GetAtt; the condition operators StringEquals,
StringLike, ArnEquals, ArnLike, Null); anything else fails loudly rather than allowing.
It must not be used to widen a grant: an unknown condition key denies.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any


class Names(dict):  # type: ignore[type-arg]
    """Parameter, resource and attribute values; a name not given renders as `<name>`,
    which matches no real ARN: it can only deny."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def render(value: Any, names: Mapping[str, str]) -> Any:
    """A statement's value with Fn::Sub, Ref and GetAtt replaced by `names`."""
    names = names if isinstance(names, Names) else Names(names)
    if isinstance(value, list):
        return [render(v, names) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) \
                else value["Fn::Sub"]
            local = Names({**names, **{k: render(v, names) for k, v in variables.items()}})
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(local[m.group(1)]), text)
        if set(value) == {"Ref"}:
            return names[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            return names[".".join(value["Fn::GetAtt"])]
        return {k: render(v, names) for k, v in value.items()}
    return value


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            present = key in context
            if operator == "Null":
                if str(wanted).lower() == "true" and present:
                    return False
                if str(wanted).lower() == "false" and not present:
                    return False
                continue
            if not present:
                return False
            value = context[key]
            if operator in ("StringEquals", "ArnEquals"):
                ok = value in _listed(wanted)
            elif operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(value, w) for w in _listed(wanted))
            else:
                raise ValueError(f"condition operator {operator} is not understood here")
            if not ok:
                return False
    return True


def allows(statements: Iterable[Mapping[str, Any]], action: str, resource: str,
           context: Mapping[str, str] | None = None) -> bool:
    """Whether a rendered Allow statement grants `action` on `resource` (ARN, or "*" for
    an action without a resource type) with the request's condition `context`."""
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatch(action.lower(), a.lower())
                   for a in _listed(statement["Action"])):
            continue
        patterns = _listed(statement["Resource"])
        if resource == "*":
            if "*" not in patterns:
                continue
        elif not any(fnmatch.fnmatchcase(resource, p) for p in patterns):
            continue
        if _condition_holds(statement.get("Condition", {}), context or {}):
            return True
    return False
