"""YAML text -> node graphs, one per document, with bounded depth and measured size.

The events come from yaml.SafeLoader's parser (its libyaml twin, CSafeLoader, when
PyYAML was built with it: the same parser rules, some fifty times faster) and the tags
from its resolver. The composing is done here, iteratively, instead of by PyYAML's
recursive composer, so that nesting is refused at MAX_DEPTH as soon as it is reached:
deep nesting otherwise costs quadratic scanning time, Python recursion errors or, with
libyaml, the C stack. `measure` then computes a document's alias-expanded size with
memoisation over the node graph, so alias bombs and recursive aliases are refused in
time linear in the text.

This module must not construct Python values (yamlsafe.py does) or know any schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 64
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(Exception):  # noqa: N818 - a verdict on the input, carried to the caller
    """The YAML is well formed but too deep, too big or endless; refused at `line`."""

    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(message)


def compose_documents(loader: yaml.SafeLoader) -> Iterator[Node]:
    """Each document's root node, in order; empty documents come as null scalars."""
    loader.get_event()  # stream start
    while not loader.check_event(StreamEndEvent):
        loader.get_event()  # document start
        yield _compose_root(loader)
        loader.get_event()  # document end


def _compose_root(loader: yaml.SafeLoader) -> Node:
    anchors: dict[str, Node] = {}
    # Open collections, innermost last; for mappings, the key waiting for its value.
    open_nodes: list[CollectionNode] = []
    waiting_key: list[Node | None] = []
    while True:
        event = loader.get_event()
        if isinstance(event, SequenceEndEvent | MappingEndEvent):
            node: Node = open_nodes.pop()
            waiting_key.pop()
            node.end_mark = event.end_mark
        elif isinstance(event, AliasEvent):
            if event.anchor not in anchors:
                raise ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                    _mark(event.start_mark))
            node = anchors[event.anchor]
        else:
            node = _start_node(loader, event, anchors)
            if isinstance(node, CollectionNode):
                _attach(open_nodes, waiting_key, node)
                open_nodes.append(node)
                waiting_key.append(None)
                if len(open_nodes) > MAX_DEPTH:
                    raise Refused(_line(event.start_mark), f"refused: nests more than "
                                  f"{MAX_DEPTH} levels deep (desired state never needs that)")
                continue
        if not open_nodes:
            return node
        if not isinstance(event, SequenceEndEvent | MappingEndEvent):
            _attach(open_nodes, waiting_key, node)


def _start_node(loader: yaml.SafeLoader, event: ScalarEvent | CollectionStartEvent,
                anchors: dict[str, Node]) -> Node:
    anchor = event.anchor
    if anchor is not None and anchor in anchors:
        raise ComposerError(f"found duplicate anchor {anchor!r}; first occurrence",
                            anchors[anchor].start_mark, "second occurrence",
                            _mark(event.start_mark))
    node: Node
    tag = event.tag
    start, end = _mark(event.start_mark), _mark(event.end_mark)
    if isinstance(event, ScalarEvent):
        if tag is None or tag == "!":
            tag = loader.resolve(ScalarNode, event.value, event.implicit)
        node = ScalarNode(tag, event.value, start, end, style=event.style)
    else:
        kind = SequenceNode if not isinstance(event, MappingStartEvent) else MappingNode
        if tag is None or tag == "!":
            tag = loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], start, None, flow_style=event.flow_style)
    if anchor is not None:
        # Registered before its children, as PyYAML does, so a recursive alias resolves
        # to the node itself and measure() can see the cycle.
        anchors[anchor] = node
    return node


def _attach(open_nodes: list[CollectionNode], waiting_key: list[Node | None],
            node: Node) -> None:
    if not open_nodes:
        return
    parent = open_nodes[-1]
    if isinstance(parent, SequenceNode):
        parent.value.append(node)
    elif waiting_key[-1] is None:
        waiting_key[-1] = node
    else:
        parent.value.append((waiting_key[-1], node))
        waiting_key[-1] = None


def _line(mark: Mark | None) -> int:
    return mark.line + 1 if mark is not None else 0


def children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def measure(root: Node, max_nodes: int) -> int:
    """The alias-expanded number of nodes under root, or Refused past max_nodes.

    Iterative post-order with memoised sizes: an alias bomb's exponential size is
    computed in time linear in the distinct nodes, and a long alias chain cannot exhaust
    the Python stack. A node met again while its own children are being measured is a
    recursive alias.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    in_progress: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = children(node)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            in_progress.discard(key)
            if size[key] > max_nodes:
                raise Refused(_line(root.start_mark), f"refused: expands to more than "
                              f"{max_nodes:,} YAML nodes once aliases are expanded (an alias "
                              "bomb?)")
            if depth[key] > MAX_DEPTH:
                raise Refused(_line(node.start_mark), f"refused: nests more than {MAX_DEPTH} "
                              "levels deep once aliases are expanded")
            continue
        if key in size:
            continue
        if key in in_progress:
            raise Refused(_line(node.start_mark), "refused: a recursive alias (the node "
                          "anchored here contains an alias to itself)")
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in children(node))
    return size[id(root)]


def _mark(mark: Any) -> Any:
    """libyaml's parser hands out its own Mark type; nodes and errors only keep it for
    messages (line and column), which both types give."""
    return mark
