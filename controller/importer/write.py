"""Rendering imported documents as YAML files, comments first. No I/O but `write_files`,
which writes only into the folder it is given and never over a file unless told to."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from controller.escaping import escape
from controller.importer.documents import Document


class _Row(dict):  # type: ignore[type-arg]
    """A profiles-table row: one line each, as the example writes them."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # each region's network written out in full, no &anchors


def _row(dumper: yaml.SafeDumper, data: _Row) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Row, _row)


def render(documents: list[Document]) -> str:
    parts = []
    for document in documents:
        lines = []
        for comment in document.comments:
            # A comment holds names read from AWS: escaped, and wrapped, so none can end
            # the comment and start a line of YAML.
            lines += [f"# {line}" for line in textwrap.wrap(escape(comment), 86)]
        lines.append(yaml.dump(_rows_flowing(document.body), Dumper=_Dumper, sort_keys=False,
                               allow_unicode=True, width=100).rstrip("\n"))
        parts.append("\n".join(lines) + "\n")
    return "---\n".join(parts)


def _rows_flowing(body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("spec", {})
    if body.get("kind") == "Domain" and "profiles" in spec:
        spec = {**spec, "profiles": [_Row(row) for row in spec["profiles"]]}
        return {**body, "spec": spec}
    return body


def write_files(folder: Path, files: dict[str, list[Document]], force: bool) -> list[Path]:
    """Write each file into `folder` (made if missing); FileExistsError naming the first
    file already there, unless `force`."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / name for name in sorted(files)]
    if not force:
        for target in targets:
            if target.exists() or target.is_symlink():
                raise FileExistsError(str(target))
    for target in targets:
        if target.is_symlink():
            target.unlink()  # never write through a link into somewhere else
        target.write_text(render(files[target.name]), encoding="utf-8")
    return targets
