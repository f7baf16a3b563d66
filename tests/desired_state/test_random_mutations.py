"""Whatever is written into a desired-state file, loading it either succeeds or raises
DesiredStateError: random mutations of the valid example, at the level of values and of
raw text, never produce any other exception (so never a traceback for the user)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.desired import load_desired_state
from controller.errors import DesiredStateError
from tests.desired_state.helpers import EXAMPLE

EXAMPLE_TEXTS = {path.name: path.read_text(encoding="utf-8")
                 for path in sorted(EXAMPLE.glob("*.yaml"))}
EXAMPLE_DOCUMENTS = [document for text in EXAMPLE_TEXTS.values()
                     for document in yaml.safe_load_all(text)]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["0700", "us-east-1", "eu-west-9", "{profile}", "/home/{domain}/..",
                     "home", "team", "studio-efs", "research", "Estate", "Domain", "user",
                     "", "-", "fs-0123456789abcdef0", "2024-01-01"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)

# Characters that mean something to YAML, plus ordinary ones.
yaml_noise = st.text(alphabet=list(":-[]{}&*!|>'\"%@`#,?<=~ \t\n\r\\0123456789abcxyz\x00\x85é"),
                     min_size=1, max_size=8)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutated(documents: list[Any], data: st.DataObject) -> list[Any]:
    documents = copy.deepcopy(documents)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(documents) - 1))
        path = data.draw(st.sampled_from(_paths(documents[index])))
        replacement = data.draw(values)
        if not path:
            documents[index] = replacement
            continue
        parent = documents[index]
        for part in path[:-1]:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    return documents


def _load(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            Path(folder, name).write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            state = load_desired_state(folder)
        except DesiredStateError as error:
            assert error.problems
            assert all("\n" not in str(problem) for problem in error.problems)
        else:
            assert state.revision.startswith("sha256:")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_values_load_or_raise_desired_state_error(data: st.DataObject) -> None:
    documents = _mutated(EXAMPLE_DOCUMENTS, data)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    _load({"estate.yaml": yaml.dump_all(documents, Dumper=dumper, allow_unicode=True)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_text_loads_or_raises_desired_state_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(EXAMPLE_TEXTS)))
    text = EXAMPLE_TEXTS[name]
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 6)))
        text = text[:start] + data.draw(st.one_of(st.just(""), yaml_noise)) + text[end:]
    _load({**EXAMPLE_TEXTS, name: text})
