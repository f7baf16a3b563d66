"""Safe YAML: text in, plain documents with a line for every field out.

Desired state comes from a git repository many people can write to, so the loader
refuses, fast and with a located Problem, whatever could hurt or mislead the controller:
alias bombs and recursive aliases, nesting past MAX_DEPTH (yamlcompose.py), more than
MAX_DOCUMENTS documents, duplicate keys at any depth, non-string keys, tags other than
plain YAML data (so !!python/object and friends never construct anything) and syntax
errors. Merge keys (<<) and ordinary anchors and aliases are allowed. Empty documents
(a lone ---) are skipped.

Values are built here from the composed nodes, recording the line of each key and list
item; scalars are constructed by yaml.SafeLoader's own SafeConstructor methods. This
module must not read files or know about kinds or schemas, and it reports Problems
instead of raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.desired.documents import Document, FieldPath, format_path, one_line, show_value
from controller.desired.yamlcompose import LOADER, Refused, compose_documents, measure
from controller.errors import Problem

MAX_DOCUMENTS = 10_000
MAX_NODES_PER_DOCUMENT = 100_000
MAX_NODES_PER_LOAD = 1_000_000

_YAML = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR, _NULL, _MERGE = (_YAML + t for t in ("map", "seq", "str", "null", "merge"))
_SCALAR_CONSTRUCTORS = {
    _YAML + "null": "construct_yaml_null",
    _YAML + "bool": "construct_yaml_bool",
    _YAML + "int": "construct_yaml_int",
    _YAML + "float": "construct_yaml_float",
    _YAML + "str": "construct_yaml_str",
    _YAML + "timestamp": "construct_yaml_timestamp",
    # YAML 1.1 resolves a lone "=" to !!value, which SafeLoader cannot construct; it is
    # meant as text.
    _YAML + "value": "construct_yaml_str",
}
_READ_AS = {"null": "null", "bool": "a boolean", "int": "a number", "float": "a number",
            "timestamp": "a date"}
# A document start marker: --- at the start of a line, alone or before a space.
_DOCUMENT_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)


@dataclass
class NodeBudget:
    """Expanded YAML nodes still allowed in one load, shared by all its files."""

    remaining: int = MAX_NODES_PER_LOAD


def parse_documents(file: str, text: str,
                    budget: NodeBudget | None = None) -> tuple[list[Document], list[Problem]]:
    """Every non-empty document of one file, and the problems found loading them."""
    budget = budget if budget is not None else NodeBudget()
    too_many = _too_many_documents(file, text)
    if too_many:
        return [], [too_many]
    documents: list[Document] = []
    problems: list[Problem] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = LOADER(text)
        for count, root in enumerate(compose_documents(loader), start=1):
            if count > MAX_DOCUMENTS:  # the marker count above is the fast path
                raise Refused(root.start_mark.line + 1, f"has more than {MAX_DOCUMENTS:,} "
                              "documents; split the desired state into several files")
            if isinstance(root, ScalarNode) and root.tag == _NULL:
                continue  # an empty document, such as a lone ---
            size = measure(root, MAX_NODES_PER_DOCUMENT)
            if size > budget.remaining:
                raise Refused(root.start_mark.line + 1, "refused: the desired state as a whole "
                              f"expands to more than {MAX_NODES_PER_LOAD:,} YAML nodes")
            budget.remaining -= size
            document, found = _Builder(file, loader).document(root)
            problems.extend(found)
            if document is not None and not found:
                # A document with YAML problems is not checked further: its schema errors
                # would only restate them.
                documents.append(document)
    except Refused as refusal:
        problems.append(Problem(file, refusal.line, "", str(refusal)))
    except yaml.MarkedYAMLError as error:
        problems.append(_syntax_problem(file, error))
    except yaml.reader.ReaderError as error:
        problems.append(_reader_problem(file, text, error))
    except yaml.YAMLError as error:
        problems.append(Problem(file, 0, "", one_line(f"invalid YAML: {error}")))
    finally:
        if loader is not None:
            loader.dispose()
    return documents, problems


def _too_many_documents(file: str, text: str) -> Problem | None:
    for count, marker in enumerate(_DOCUMENT_MARKER.finditer(text), start=1):
        if count > MAX_DOCUMENTS:
            line = text.count("\n", 0, marker.start()) + 1
            return Problem(file, line, "", f"has more than {MAX_DOCUMENTS:,} documents; "
                           "split the desired state into several files")
    return None


def _syntax_problem(file: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 0
    message = "invalid YAML: "
    if error.context:
        where = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
        message += f"{error.context}{where}: "
    message += error.problem or "cannot parse"
    return Problem(file, line, "", one_line(message))


def _reader_problem(file: str, text: str, error: yaml.reader.ReaderError) -> Problem:
    # PyYAML counts characters; libyaml counts bytes of the UTF-8 encoding.
    encoded = text.encode("utf-8") if LOADER is not yaml.SafeLoader else None
    position = max(0, error.position)
    line = (encoded.count(b"\n", 0, position) if encoded is not None
            else text.count("\n", 0, position)) + 1
    code = error.character if isinstance(error.character, int) else 0
    return Problem(file, line, "", f"contains a character YAML does not allow (U+{code:04X}); "
                   "remove it, or write it as an escape in a double-quoted string")


@dataclass
class _Builder:
    """Turns one composed document into plain values, recording lines as it goes."""

    file: str
    loader: yaml.SafeLoader
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _reported: set[tuple[int, str]] = field(default_factory=set)

    def document(self, root: Node) -> tuple[Document | None, list[Problem]]:
        line = root.start_mark.line + 1
        if not isinstance(root, MappingNode) or root.tag != _MAP:
            found = "a list" if isinstance(root, SequenceNode) else "a single value"
            if isinstance(root, MappingNode):
                found = f"a mapping tagged {_show_tag(root.tag)}"
            message = ("each document must be a mapping with apiVersion, kind, metadata and "
                       f"spec; found {found}")
            return None, [Problem(self.file, line, "", message)]
        self.lines[()] = line
        body = self._mapping(root, ())
        return Document(self.file, line, body, dict(self.lines)), self.problems

    def _problem(self, node: Node, path: FieldPath, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, format_path(path),
                                     one_line(message)))

    def _value(self, node: Node, path: FieldPath) -> Any:
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                return self._refuse_tag(node, path)
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                return self._refuse_tag(node, path)
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self._value(item, (*path, index)))
            return items
        constructor = _SCALAR_CONSTRUCTORS.get(node.tag)
        if constructor is None:
            return self._refuse_tag(node, path)
        try:
            return getattr(self.loader, constructor)(node)
        except (ValueError, IndexError, OverflowError, TypeError):
            kind = _READ_AS.get(node.tag.removeprefix(_YAML), "a value")
            self._problem(node, path, f"YAML reads {show_value(node.value)} as {kind} but it "
                          "is not a valid one; quote it if it is meant as text")
            return None

    def _refuse_tag(self, node: Node, path: FieldPath) -> None:
        self._problem(node, path, f"the tag {_show_tag(node.tag)} is not allowed: desired "
                      "state is plain data (mappings, lists, strings, numbers, booleans)")

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for source in self._merge_sources(value_node, path):
                    for merged_key, value in self._mapping(source, path).items():
                        merged.setdefault(merged_key, value)  # earlier merge sources win
        result = dict(merged)
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = None if key_node.tag == _MERGE else self._key(key_node, path)
            if key is None:
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                if (id(node), key) not in self._reported:
                    self._reported.add((id(node), key))
                    self._problem(key_node, (*path, key), f"duplicate key {key!r} (first at "
                                  f"line {first_line[key]}); each key may appear once")
                continue
            first_line[key] = line
            self.lines[(*path, key)] = line
            result[key] = self._value(value_node, (*path, key))
        return result

    def _merge_sources(self, node: Node, path: FieldPath) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if all(isinstance(source, MappingNode) and source.tag == _MAP for source in sources):
            return list(sources)
        self._problem(node, path, "a merge key (<<) needs a mapping or a list of mappings")
        return []

    def _key(self, node: Node, path: FieldPath) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _STR:
            return str(node.value)
        if isinstance(node, ScalarNode):
            read_as = _READ_AS.get(node.tag.removeprefix(_YAML), _show_tag(node.tag))
            message = (f"keys must be strings, but YAML reads the key {show_value(node.value)} "
                       f"as {read_as}; quote it if it is meant as text")
        else:
            message = "keys must be strings; a list or mapping cannot be a key"
        self._problem(node, path, message)
        return None


def _show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
