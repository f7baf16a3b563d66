"""The failback save walks any tree with a bounded number of descriptors and no recursion.

The attack (issue 9, point 3): the save leaked one descriptor per directory (6 to 1,016,
then "Too many open files") and recursed per level (a home 500 levels deep raised
RecursionError on every retry), so any user could stop failback. Here: trees far larger
and deeper (5,000 levels; 20,000 directories) under an open-file limit of 64, in a
subprocess so the limit binds only there.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT

REPO = Path(__file__).resolve().parents[2]
LIMIT = 64
SAVE = """
import json, sys
from pathlib import Path
from controller.fs.salvage import save_unreplicated
report = save_unreplicated(Path(sys.argv[1]), Path(sys.argv[2]), "F")
print(json.dumps({"errors": report.errors[:5], "saved": len(report.saved),
                  "compared": report.compared}))
"""


def save_with_few_descriptors(old: Path, active: Path) -> dict[str, object]:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))
    done = subprocess.run([sys.executable, "-c", SAVE, str(old), str(active)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, preexec_fn=low_limit, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def make_chain(root: Path, depth: int, file_every: int = 0) -> None:
    """root/d/d/.../d, `depth` levels, made through descriptors (the path is far longer
    than PATH_MAX); a file `f` in every `file_every`-th level."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(1, depth + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            if file_every and level % file_every == 0:
                out = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, f"level {level}".encode())
                os.close(out)
    finally:
        os.close(fd)


def count_chain(root: Path) -> tuple[int, list[str]]:
    """(levels, contents of every f) of a chain made by make_chain."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    levels, texts = 0, []
    try:
        while True:
            if "f" in os.listdir(fd):
                source = os.open("f", os.O_RDONLY, dir_fd=fd)
                texts.append(os.read(source, 100).decode())
                os.close(source)
            try:
                child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                return levels, texts
            os.close(fd)
            fd = child
            levels += 1
    finally:
        os.close(fd)


@pytest.fixture
def copies(scratch: Path) -> tuple[Path, Path]:
    old, active = scratch / "old", scratch / "active"
    old.mkdir()
    active.mkdir()
    return old, active


def test_a_tree_5000_levels_deep_is_saved_with_64_descriptors(copies):
    old, active = copies
    (old / "home").mkdir()
    make_chain(old / "home", 5000, file_every=100)
    (active / "home").mkdir()
    make_chain(active / "home", 2500)  # the first half exists, without the files
    result = save_with_few_descriptors(old, active)
    assert result["errors"] == []
    assert result["compared"] == 1 + 5000 + 50
    saved = active / RECOVERY_ROOT / "F" / "home"
    levels, texts = count_chain(saved)
    assert levels == 5000
    assert texts == [f"level {n}" for n in range(100, 5001, 100)]
    assert result["saved"] == 50 + 2500  # the files, and the levels the active copy lacks
    listed = (active / RECOVERY_ROOT / "F" / RECOVERY_MANIFEST).read_text().splitlines()
    assert len(listed) == 2 + result["saved"]


def test_20000_directories_are_saved_with_64_descriptors(copies):
    old, active = copies
    for team in range(100):
        for member in range(200):
            home = old / f"team-{team}" / f"member-{member}"
            home.mkdir(parents=True)
            if member % 10 == 0:
                (home / "late.txt").write_text(f"{team}/{member}")
    (active / "team-0").mkdir()
    result = save_with_few_descriptors(old, active)
    assert result["errors"] == []
    assert result["compared"] == 100 + 20_000 + 2_000
    saved = active / RECOVERY_ROOT / "F"
    assert (saved / "team-99/member-190/late.txt").read_text() == "99/190"
    assert sum(1 for _ in saved.glob("team-*/member-*")) == 20_000
    # every late file, and every directory the active copy lacks (team-0 it has)
    assert result["saved"] == 2_000 + 99 + 20_000
