"""A parsed desired-state document that remembers where each field was written.

Every later stage (schema checks, building, cross-document rules) reports a Problem
against a field path such as ("spec", "profiles", 2, "uid"); this module turns that path
into the file, the line and the dotted text "spec.profiles[2].uid" a person can find.
It must not parse YAML, validate anything or know about kinds beyond reading
`kind` and `metadata.name`.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import Problem
from controller.model import SourceLocation

FieldPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_WHITESPACE_RUN = re.compile(r"\s*\n\s*")
_SHOWN_TEXT_LIMIT = 60


def format_path(path: FieldPath) -> str:
    """("spec", "profiles", 2, "uid") -> "spec.profiles[2].uid"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            # Keys with dots, spaces or quotes stay unambiguous in JSON quoting.
            text += f"[{json.dumps(part)}]"
    return text


def one_line(message: str) -> str:
    """Messages are printed one per line; never let a value's newline break that."""
    return _WHITESPACE_RUN.sub(" ", message).strip()


def show_value(value: Any) -> str:
    """A short, YAML-flavoured rendering of a value for 'found ...' in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if len(value) > _SHOWN_TEXT_LIMIT:
            value = value[:_SHOWN_TEXT_LIMIT] + "..."
        return json.dumps(value)
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()} (quote it to keep it text)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def type_name(value: Any) -> str:
    """The YAML-level name of a value's type, for 'must be X, found Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, datetime.date):
        return "date"
    return type(value).__name__


@dataclass(frozen=True)
class Document:
    """One YAML document: its plain data and the line of every field path in it."""

    file: str
    line: int  # where the document's first node starts (1-based)
    body: Mapping[str, Any]
    lines: Mapping[FieldPath, int]

    @property
    def kind(self) -> str | None:
        kind = self.body.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def name(self) -> str | None:
        metadata = self.body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        return name if isinstance(name, str) else None

    def line_of(self, path: FieldPath) -> int:
        """The line of the deepest node on `path` that exists in the document."""
        for length in range(len(path), -1, -1):
            line = self.lines.get(path[:length])
            if line:
                return line
        return self.line

    def location(self, path: FieldPath = ()) -> SourceLocation:
        return SourceLocation(self.file, self.line_of(path))

    def problem(self, path: FieldPath, message: str) -> Problem:
        return Problem(self.file, self.line_of(path), format_path(path), one_line(message))
