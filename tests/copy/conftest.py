"""A small source tree with every kind of entry the copy engine must preserve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.scratch import scratch

__all__ = ["scratch"]

IS_ROOT = os.geteuid() == 0
# A mtime with nanoseconds that a float round trip would lose.
OLD_NS = 1_600_000_000_123_456_789


def make_source(root: Path, outside: Path) -> Path:
    src = root / "src"
    (src / "home/alice/.conda/pkgs").mkdir(parents=True)
    (src / "home/alice/.conda/envs").mkdir(parents=True)
    (src / "teams/research").mkdir(parents=True)
    notebook = src / "home/alice/notebook.ipynb"
    notebook.write_bytes(b'{"cells": []}\n' * 1000)
    os.chmod(notebook, 0o640)
    secret = src / "home/alice/secret"
    secret.write_bytes(b"s3cr3t")
    os.chmod(secret, 0o600)
    lib = src / "home/alice/.conda/pkgs/lib.so"
    lib.write_bytes(os.urandom(70_000))
    os.link(lib, src / "home/alice/.conda/envs/lib.so")
    os.link(lib, src / "home/alice/.conda/lib-again.so")
    os.chmod(src / "teams/research", 0o2775)
    os.chmod(src / "teams", 0o1777)
    (src / "teams/research/empty").write_bytes(b"")
    (src / "home/alice/relative-link").symlink_to("notebook.ipynb")
    (src / "home/alice/dangling").symlink_to("does/not/exist")
    (src / "home/alice/escape").symlink_to(outside)  # absolute, outside the tree
    os.mkfifo(src / "teams/research/pipe")
    if IS_ROOT:
        for path in (notebook, secret, src / "home/alice"):
            os.chown(path, 200001, 1001)
        os.chown(src / "teams/research", 0, 1001)
        os.chown(src / "home/alice/escape", 200001, 1001, follow_symlinks=False)
    stamp_tree(src)
    return src


def stamp_tree(root: Path) -> None:
    """Old, distinct nanosecond mtimes everywhere (children first, directories last)."""
    for index, (dirpath, dirnames, filenames) in enumerate(os.walk(root, topdown=False)):
        for offset, name in enumerate(filenames + dirnames):
            ns = OLD_NS + index * 1_000_003 + offset * 7
            os.utime(os.path.join(dirpath, name), ns=(ns, ns), follow_symlinks=False)
        os.utime(dirpath, ns=(OLD_NS - index, OLD_NS - index))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    place = tmp_path / "outside"
    place.mkdir()
    (place / "victim").write_text("must not change")
    return place


@pytest.fixture
def source(tmp_path: Path, outside: Path) -> Path:
    return make_source(tmp_path, outside)
