"""Helpers for the desired-state tests: write YAML, edit it in one place, find the line
a snippet is on, and get the one problem a desired state has."""

from __future__ import annotations

import textwrap
from pathlib import Path

from controller.desired import validate_path
from controller.errors import Problem

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def edit(path: Path, old: str, new: str) -> Path:
    """Replace the one occurrence of `old` in a file (fails loudly if not exactly one)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_of(path: Path, snippet: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line of `path` containing `snippet`."""
    hits = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if snippet in line]
    assert len(hits) >= occurrence, f"{snippet!r} not found {occurrence} times in {path}"
    return hits[occurrence - 1]


def the_problem(path: Path) -> Problem:
    """The single problem the desired state at `path` has."""
    problems = validate_path(path)
    assert len(problems) == 1, "expected one problem, got:\n" + "\n".join(map(str, problems))
    return problems[0]
