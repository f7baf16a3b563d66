"""Profiles from a CSV file a Domain names (spec.profilesFile): 500 users in one file.

The first line names the columns; each later line is one profile of that Domain, checked
as a row of the Domain's profiles table (the JSON Schema's profileRow, so the limits and
messages are the same), and every problem names the file, the line and the column:
`research-users.csv:12:2: uid: must be a POSIX user id ...`. Blank lines and lines whose
first cell starts with # are skipped, so a reviewed file can carry comments.

Columns: name, uid, gid (required); ssoUser, executionRole, defaultInstanceType,
idleShutdownMinutes, restoreOnRecreate, suspend, shares (names separated by spaces),
tags (key=value pairs separated by semicolons). An empty cell is a column not given.

This module must not read files (sources.py did, with its limits and checks) and must
not judge anything across rows or documents (rules.py does, over every profile alike).
"""

from __future__ import annotations

import csv
import difflib
import io
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.desired.build import Located, profile_spec
from controller.desired.documents import Document, FieldPath, format_path, one_line
from controller.desired.messages import explain
from controller.desired.schema import PROFILE_ROW, SchemaSet
from controller.desired.sources import CSV_SUFFIXES, SourceFile
from controller.errors import Problem
from controller.model import Posix, UserProfileSpec

REQUIRED = ("name", "uid", "gid")
# CSV column -> the profileRow field it fills.
COLUMNS = {"name": "name", "uid": "uid", "gid": "gid", "ssoUser": "singleSignOn",
           "executionRole": "executionRole", "defaultInstanceType": "defaultInstanceType",
           "idleShutdownMinutes": "idleShutdownMinutes",
           "restoreOnRecreate": "restoreOnRecreate", "suspend": "suspend",
           "shares": "shares", "tags": "tags"}
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True)
class CsvRow(Document):
    """One row, as a document whose problems carry the column of the field at fault."""

    columns: Mapping[str, int] = field(default_factory=dict)  # row field -> column

    def problem(self, path: FieldPath, message: str) -> Problem:
        column = self.columns.get(str(path[0]), 0) if path else 0
        return Problem(self.file, self.line, format_path(path), one_line(message), column)


def profiles_from_csv(documents: Sequence[Document], files: Sequence[SourceFile],
                      schemas: SchemaSet) -> tuple[list[Located[UserProfileSpec]],
                                                   list[Problem]]:
    """The profiles of every Domain's profilesFile, and every problem found in them."""
    by_relative = {f.relative: f for f in files}
    relative_of = {f.display: f.relative for f in files}
    rows: list[Located[UserProfileSpec]] = []
    problems: list[Problem] = []
    validator = schemas.parts.get(PROFILE_ROW)
    for document in documents:
        spec = document.body.get("spec")
        if document.kind != "Domain" or not isinstance(spec, Mapping):
            continue
        named = spec.get("profilesFile")
        if not isinstance(named, str) or validator is None:
            continue
        here = posixpath.dirname(relative_of.get(document.file, ""))
        wanted = posixpath.normpath(posixpath.join(here, named))
        source = by_relative.get(wanted)
        if source is None or not wanted.lower().endswith(CSV_SUFFIXES):
            problems.append(document.problem(("spec", "profilesFile"), (
                f"no file {wanted} in the desired-state folder (the path is relative to "
                "this YAML file's folder; a desired state given as one file cannot refer "
                "to another)")))
            continue
        if source.text is None:
            continue  # sources.py has said it is not UTF-8
        for row, found in _rows(source.display, source.text):
            problems += found
            if row is None:
                continue
            errors = [row.problem(path, message)
                      for error in validator.iter_errors(dict(row.body))
                      for path, message in explain(error)]
            if errors:
                problems += errors
                continue
            body = row.body
            profile = profile_spec(str(body["name"]), str(document.name), body,
                                   Posix(int(body["uid"]), int(body["gid"])))
            fields = {name: (name,) for name in ("name", "uid", "gid", "shares",
                                                 "singleSignOn")}
            rows.append(Located("UserProfile", profile, row, {**fields, "domain": ("name",)}))
    return rows, problems


def _rows(display: str, text: str) -> Iterator[tuple[CsvRow | None, list[Problem]]]:
    """Each data row as a CsvRow (None when the line itself is unusable), with the
    problems of its line; the header's problems come first."""
    reader = csv.reader(io.StringIO(text), strict=True)
    header: list[str] | None = None
    line = 0
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield None, [Problem(display, reader.line_num, "", f"is not valid CSV: {error}")]
            break
        line = start
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if header is None:
            header = cells
            problems = _header_problems(display, line, header)
            if problems:
                yield None, problems
                return
            continue
        yield _row(display, line, header, cells)
    if header is None:
        yield None, [Problem(display, max(line, 1), "", "has no header line; the first line "
                             f"names the columns, at least {', '.join(REQUIRED)}")]


def _header_problems(display: str, line: int, header: list[str]) -> list[Problem]:
    problems = []
    for column, name in enumerate(header, start=1):
        if name not in COLUMNS:
            hint = difflib.get_close_matches(name, list(COLUMNS), n=1, cutoff=0.6)
            guess = f"did you mean {hint[0]!r}? " if hint else ""
            problems.append(Problem(display, line, "", f"unknown column {name!r}; {guess}"
                                    f"columns: {', '.join(COLUMNS)}", column))
        elif header.index(name) != column - 1:
            problems.append(Problem(display, line, "", f"column {name!r} is named twice",
                                    column))
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        problems.append(Problem(display, line, "", f"the header needs the column(s) "
                                f"{', '.join(missing)}; found {', '.join(header)}", 1))
    return problems


def _row(display: str, line: int, header: list[str],
         cells: list[str]) -> tuple[CsvRow | None, list[Problem]]:
    problems: list[Problem] = []
    if len(cells) > len(header):
        problems.append(Problem(display, line, "", f"has {len(cells)} cells but the header "
                                f"names {len(header)} columns", len(header) + 1))
        return None, problems
    body: dict[str, Any] = {}
    columns: dict[str, int] = {}
    for column, (name, cell) in enumerate(zip(header, cells, strict=False), start=1):
        if cell == "" and name not in REQUIRED:
            continue
        target = COLUMNS[name]
        columns[target] = column
        value, problem = _value(name, cell)
        if problem:
            problems.append(Problem(display, line, target, problem, column))
            continue
        body[target] = value
    for name in REQUIRED:
        if name not in columns:
            columns[name] = header.index(name) + 1
    return CsvRow(display, line, body, {(): line}, columns), problems


def _value(column: str, cell: str) -> tuple[Any, str | None]:
    """The cell as the profileRow field wants it; what cannot be converted is kept as
    text, for the schema to say what was expected."""
    if column in ("uid", "gid", "idleShutdownMinutes"):
        return (int(cell) if _WHOLE_NUMBER.fullmatch(cell) else cell), None
    if column in ("restoreOnRecreate", "suspend"):
        return _BOOLEANS.get(cell.lower(), cell), None
    if column == "ssoUser":
        return {"userValue": cell}, None
    if column == "shares":
        return cell.split(), None
    if column == "tags":
        return _tags(cell)
    return cell, None


def _tags(cell: str) -> tuple[dict[str, str], str | None]:
    tags: dict[str, str] = {}
    for piece in cell.split(";"):
        if not piece.strip():
            continue
        key, equals, value = piece.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            return tags, (f"must be key=value pairs separated by semicolons, such as "
                          f"team=nlp;cost-centre=42; found {piece.strip()!r}")
        if key in tags:
            return tags, f"names the tag {key!r} twice"
        tags[key] = value
    return tags, None
