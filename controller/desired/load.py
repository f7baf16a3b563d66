"""The desired-state pipeline: files -> safe YAML -> schemas -> rules -> DesiredState.

Each stage reports Problems instead of raising. Cross-document rules run only when
every file read and parsed and every document passed its schema, because rules over
broken documents would mostly restate the same mistakes; so a revision's problems come
in at most two rounds. A revision is accepted whole or refused whole (DesiredStateError
with every problem, sorted). This module must not do I/O beyond what sources.py does
and must not talk to AWS.
"""

from __future__ import annotations

from pathlib import Path

from controller.desired.build import assemble, build_specs
from controller.desired.csv_profiles import profiles_from_csv
from controller.desired.documents import Document
from controller.desired.rules import check_rules
from controller.desired.schema import load_schemas, validate_document
from controller.desired.sources import read_sources
from controller.desired.yamlsafe import NodeBudget, parse_documents
from controller.errors import DesiredStateError, Problem
from controller.model import DesiredState


def load_desired_state(path: str | Path, revision: str | None = None) -> DesiredState:
    """Load, validate and build one revision, or raise DesiredStateError.

    `revision` names the revision (a git commit, an S3 version); without it the
    revision is "sha256:" and 12 hex digits of a hash over the files' relative names
    and contents, so the same files always make the same revision.
    """
    state, problems = _run(path, revision)
    if problems or state is None:
        raise DesiredStateError(problems)
    return state


def validate_path(path: str | Path) -> list[Problem]:
    """Every problem with the desired state at `path`, sorted; empty when it is valid."""
    return _run(path, None)[1]


def _run(path: str | Path, revision: str | None) -> tuple[DesiredState | None, list[Problem]]:
    sources = read_sources(path)
    schemas = load_schemas()
    problems: set[Problem] = {*sources.problems, *schemas.problems}
    documents: list[Document] = []
    budget = NodeBudget()
    for source in sources.files:
        if source.text is None or not source.is_yaml:
            continue
        parsed, found = parse_documents(source.display, source.text, budget)
        documents.extend(parsed)
        problems.update(found)
    for document in documents:
        problems.update(validate_document(document, schemas))
    if problems:
        return None, sorted(problems)
    specs = build_specs(documents)
    rows, found = profiles_from_csv(documents, sources.files, schemas)
    problems.update(found)
    if problems:
        return None, sorted(problems)
    specs.profiles.extend(rows)
    problems.update(check_rules(specs, sources.root))
    if problems:
        return None, sorted(problems)
    return assemble(specs, revision or sources.revision), []
