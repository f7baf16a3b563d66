"""Turning jsonschema errors into messages that say what is wrong and what is allowed.

Raw jsonschema text ("'x' is not of type 'integer'") tells a platform engineer little.
Here each common validator gets a sentence that names the allowed values, range or
meaning of a pattern, read from the schema itself: its enum, minimum and maximum, the
field descriptions, and the `x-message` a definition may carry. This module must not
load schemas or files; it only explains one error at a time.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from controller.desired.documents import FieldPath, show_value, type_name

_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "null": "null"}

Explained = Iterator[tuple[FieldPath, str]]


def explain(error: ValidationError) -> Explained:
    """(field path, message) pairs for one error; usually one, several for required."""
    if error.context:
        # anyOf/oneOf: the branch that came closest says the most.
        yield from explain(best_match(error.context))
        return
    path: FieldPath = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if "propertyNames" in error.absolute_schema_path:
        rule = schema.get("x-message") or _generic(error, schema)
        yield (*path, str(error.instance)), f"{show_value(error.instance)} is not allowed as " \
            f"a key here: it {rule}"
        return
    special = _SPECIAL.get(str(error.validator))
    if special is not None:
        yield from special(error, path, schema)
        return
    custom = schema.get("x-message")
    if custom:
        yield path, f"{custom}; found {show_value(error.instance)}"
        return
    yield path, _generic(error, schema)


def _required(error: ValidationError, path: FieldPath, schema: Mapping[str, Any]) -> Explained:
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    properties = schema.get("properties", {})
    for name in error.validator_value:
        if name in instance:
            continue
        description = properties.get(name, {}).get("description")
        yield (*path, name), "is required" + (f": {description}" if description else "")


def _additional(error: ValidationError, path: FieldPath, schema: Mapping[str, Any]) -> Explained:
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    allowed = sorted(schema.get("properties", {}))
    for key in instance:
        if key in allowed:
            continue
        hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        guess = f"did you mean {hint[0]!r}? " if hint else ""
        listed = ", ".join(allowed) if allowed else "none"
        yield (*path, str(key)), f"unknown field {str(key)!r}; {guess}allowed here: {listed}"


_SPECIAL: dict[str, Callable[[ValidationError, FieldPath, Mapping[str, Any]], Explained]] = {
    "required": _required,
    "additionalProperties": _additional,
}


def _generic(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """A friendly sentence for the validators our schemas use, raw text otherwise."""
    validator, value, instance = str(error.validator), error.validator_value, error.instance
    found = show_value(instance)
    if validator == "type":
        types = value if isinstance(value, list) else [value]
        wanted = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
        shown = found if instance is None or isinstance(instance, bool) else (
            f"{type_name(instance)} {found}")
        return f"must be {wanted}; found {shown}"
    if validator == "enum":
        return _choice(value, instance)
    if validator == "const":
        return f"must be {show_value(value)}; found {found}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return _range(schema, found)
    if validator == "pattern":
        return f"must match the pattern {value}; found {found}"
    if validator in ("minLength", "maxLength"):
        bound = "at least" if validator == "minLength" else "at most"
        return f"must be {bound} {value} character{'s' * (value != 1)} long; found {found}"
    if validator in ("minItems", "maxItems"):
        bound = "at least" if validator == "minItems" else "at most"
        count = len(instance) if isinstance(instance, list) else 0
        return f"must list {bound} {value} item{'s' * (value != 1)}; found {count}"
    if validator == "uniqueItems":
        return f"must not list the same item twice; {_repeated(instance)} appears more than once"
    if validator in ("minProperties", "maxProperties"):
        bound = "at least" if validator == "minProperties" else "at most"
        return f"must have {bound} {value} entr{'ies' if value != 1 else 'y'}"
    return error.message


def _choice(allowed: Any, instance: Any) -> str:
    options = list(allowed) if isinstance(allowed, list) else [allowed]
    message = f"must be one of {', '.join(show_value(o) for o in options)}; found " \
        f"{show_value(instance)}"
    if isinstance(instance, str):
        texts = [o for o in options if isinstance(o, str)]
        lowered = {o.lower(): o for o in texts}
        hint = lowered.get(instance.lower()) or next(
            iter(difflib.get_close_matches(instance, texts, n=1, cutoff=0.6)), None)
        if hint:
            message += f" (did you mean {hint!r}?)"
    return message


def _range(schema: Mapping[str, Any], found: str) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"must be from {low} to {high}; found {found}"
    if low is not None:
        return f"must be at least {low}; found {found}"
    return f"must be at most {high}; found {found}"


def _repeated(items: Any) -> str:
    seen: list[Any] = []
    for item in items if isinstance(items, list) else []:
        if item in seen:
            return show_value(item)
        seen.append(item)
    return "an item"
