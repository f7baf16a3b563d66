"""Per-document validation against the JSON Schemas in manifests/schemas/.

The schemas are the single source of truth for what one document may say: types,
required fields, enums, ranges, patterns, and no unknown fields. Each kind has
<kind>.schema.json whose `kind` property is a const naming it, and all share
common.schema.json through $ref. They ship inside the package (controller/desired/schemas,
a link to manifests/schemas in the source tree, real files in the wheel) and are read with
importlib.resources; $STUDIO_OPERATOR_MANIFESTS/schemas replaces them when that variable
is set (to try a schema change without reinstalling).

This module must not check anything across documents (rules.py does) nor build model
types (build.py does); it reports every error of a document, located.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from controller.desired.documents import Document, show_value
from controller.desired.messages import explain
from controller.errors import Problem
from controller.model import API_VERSION

MANIFESTS_ENV = "STUDIO_OPERATOR_MANIFESTS"
# The part of the Domain schema a row of profiles (table or CSV) is checked against.
PROFILE_ROW = "#/$defs/profileRow"


def schema_folder() -> Traversable:
    """The schemas in force: $STUDIO_OPERATOR_MANIFESTS/schemas, else the package's own."""
    configured = os.environ.get(MANIFESTS_ENV)
    if configured:
        return Path(configured) / "schemas"
    return resources.files("controller.desired") / "schemas"


@lru_cache(maxsize=256)
def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    # In JSON Schema (ECMA-262) a final $ is the end of the text; in Python it also
    # matches before a trailing newline, which would let "alice\n" pass as a name.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_StrictValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@dataclass(frozen=True)
class SchemaSet:
    """The validators by kind, and any problem with the schema files themselves."""

    directory: Traversable
    by_kind: Mapping[str, Validator]
    problems: tuple[Problem, ...] = ()
    # Validators for parts of a kind's schema, by "$ref" (a CSV row of profiles is checked
    # as the Domain schema's profileRow).
    parts: Mapping[str, Validator] = field(default_factory=dict)

    @property
    def kinds(self) -> list[str]:
        return sorted(self.by_kind)


_loaded: dict[str, SchemaSet] = {}


def load_schemas(directory: Traversable | None = None) -> SchemaSet:
    """The schemas of `directory` (default: those in force), read once per folder."""
    folder = directory or schema_folder()
    key = str(folder)
    if key not in _loaded:
        _loaded[key] = _load_schemas(folder)
    return _loaded[key]


def _load_schemas(folder: Traversable) -> SchemaSet:
    problems: list[Problem] = []
    contents: dict[str, dict[str, Any]] = {}
    files = (sorted((f for f in folder.iterdir() if f.name.endswith(".schema.json")),
                    key=lambda f: f.name) if folder.is_dir() else [])
    for file in files:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(loaded)
            contents[file.name] = loaded
        except (OSError, ValueError, SchemaError) as error:
            message = getattr(error, "message", None) or str(error)
            problems.append(Problem(str(file), 0, "", f"schema cannot be used: {message}"))
    if not contents and not problems:
        problems.append(Problem(str(folder), 0, "", "no *.schema.json files here; the "
                                f"package is incomplete, or {MANIFESTS_ENV} names a folder "
                                "without schemas/"))
    registry: Registry[Any] = Registry().with_resources(
        (schema.get("$id", f"urn:studio-operator:schema:{name}"), Resource.from_contents(schema))
        for name, schema in contents.items()).crawl()
    by_kind: dict[str, Validator] = {}
    for schema in contents.values():
        kind = schema.get("properties", {}).get("kind", {}).get("const")
        if isinstance(kind, str):
            by_kind[kind] = _StrictValidator(schema, registry=registry)
    parts: dict[str, Validator] = {}
    domain = contents.get("domain.schema.json", {})
    if "profileRow" in domain.get("$defs", {}):
        parts[PROFILE_ROW] = _StrictValidator({"$ref": f"{domain.get('$id', '')}{PROFILE_ROW}"},
                                              registry=registry)
    return SchemaSet(folder, by_kind, tuple(problems), parts)


def validate_document(document: Document, schemas: SchemaSet) -> list[Problem]:
    """Every schema problem of one document, each at its field's line."""
    envelope = _check_envelope(document, schemas)
    if envelope:
        return envelope
    validator = schemas.by_kind[str(document.kind)]
    problems = {
        document.problem(path, message)
        for error in validator.iter_errors(document.body)
        for path, message in explain(error)
    }
    return sorted(problems)


def _check_envelope(document: Document, schemas: SchemaSet) -> list[Problem]:
    """apiVersion and kind first: without them no schema applies."""
    body = document.body
    kinds = ", ".join(schemas.kinds)
    problems = []
    if "apiVersion" not in body:
        problems.append(document.problem(("apiVersion",), f"is required: {API_VERSION} "
                                         f"(studio-operator's document format; kinds: {kinds})"))
    elif body["apiVersion"] != API_VERSION:
        problems.append(document.problem(("apiVersion",), f"unknown apiVersion "
                                         f"{show_value(body['apiVersion'])}; studio-operator "
                                         f"reads {API_VERSION} documents of kinds {kinds}"))
    kind = body.get("kind")
    if "kind" not in body:
        problems.append(document.problem(("kind",), f"is required; allowed kinds: {kinds}"))
    elif not isinstance(kind, str) or kind not in schemas.by_kind:
        guess = _guess_kind(kind, schemas.kinds)
        problems.append(document.problem(("kind",), f"unknown kind {show_value(kind)}; "
                                         f"{guess}allowed kinds: {kinds}"))
    return problems


def _guess_kind(kind: Any, kinds: list[str]) -> str:
    if not isinstance(kind, str):
        return ""
    by_lower = {k.lower(): k for k in kinds}
    guess = by_lower.get(kind.lower()) or next(
        iter(difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)), None)
    return f"did you mean {guess!r}? " if guess else ""
