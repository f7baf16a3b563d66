"""A diff scoped to the fields the desired state sets.

AWS fills in many defaults (app settings, storage sizes, timestamps); they are not
drift. Only keys present in the desired value are compared, recursively. Lists in the
SageMaker settings we manage (subnets, security groups, custom file system configs) are
sets in meaning, so they are compared without regard to order. Pure; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from controller.plan.types import Difference, Ref


def scoped_diff(desired: Any, observed: Any, path: str = "") -> list[Difference]:
    """Differences between `desired` and `observed`, looking only where desired looks."""
    if isinstance(desired, Mapping):
        seen = observed if isinstance(observed, Mapping) else {}
        differences: list[Difference] = []
        for key in desired:
            child = f"{path}.{key}" if path else str(key)
            differences.extend(scoped_diff(desired[key], seen.get(key), child))
        return differences
    if _canonical(desired) != _canonical(observed):
        return [Difference(path, desired, observed)]
    return []


def _canonical(value: Any) -> str:
    return json.dumps(_normalise(value), sort_keys=True, default=str)


def _normalise(value: Any) -> Any:
    if isinstance(value, Ref):
        # An unknown value never equals what AWS holds: the resource is still to be made.
        return {"__ref__": value.to_json()["ref"]}
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_normalise(v) for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
    if value is None:
        # A list or setting AWS omits is the same as an empty one.
        return []
    return value


def contains_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, Mapping):
        return any(contains_ref(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_ref(v) for v in value)
    return False
