"""The bounded directory stack, and the open-file limit studioctl raises at start."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from controller.fs.dirstack import OPEN_DIR, DirStack, Moved

REPO = Path(__file__).resolve().parents[2]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def descend(stack: DirStack, depth: int) -> None:
    for _ in range(depth):
        parent = stack.fd(stack.top, 0)
        stack.push("d", [os.open("d", OPEN_DIR, dir_fd=parent)])


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    (tmp_path / "root" / "/".join(["d"] * 60)).mkdir(parents=True)
    return tmp_path / "root"


def test_only_the_budget_of_descriptors_is_held_and_every_level_opens_again(chain):
    before = open_fds()
    root = os.open(chain, OPEN_DIR)
    stack = DirStack([root], budget=4)
    try:
        descend(stack, 60)
        assert open_fds() - before <= 1 + 4
        for index in range(60, 0, -1):  # climbing back, each level opened again
            fd = stack.fd(index, 0)
            assert fd is not None
            info = os.fstat(fd)
            assert (info.st_dev, info.st_ino) == stack.levels[index].ids[0]
            assert open_fds() - before <= 1 + 5
        assert stack.path(3) == "d/d/d"
        while stack.top:
            stack.pop()
            assert open_fds() - before <= 1 + 5
    finally:
        stack.close()
        os.close(root)
    assert open_fds() == before


def test_a_directory_moved_during_the_walk_is_never_taken_for_the_one_it_was(chain):
    root = os.open(chain, OPEN_DIR)
    stack = DirStack([root], budget=2)
    try:
        descend(stack, 10)
        assert stack.levels[3].fds[0] is None  # closed: deeper levels hold the budget
        os.rename(chain / "d/d/d", chain / "elsewhere")
        (chain / "d/d/d/d").mkdir(parents=True)  # another directory at the same path
        with pytest.raises(Moved, match="d/d/d"):
            for index in range(1, 4):
                stack.fd(index, 0)
    finally:
        stack.close()
        os.close(root)


def test_studioctl_raises_the_soft_open_file_limit_to_the_hard_one(tmp_path):
    code = ("import resource, sys\n"
            "from controller.cli.main import main\n"
            "main(['validate', sys.argv[1]])\n"
            "print(*resource.getrlimit(resource.RLIMIT_NOFILE))\n")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 64:
        pytest.skip("the hard open-file limit is already tiny here")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "desired_state")],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, preexec_fn=low_soft_limit)
    assert done.returncode == 0, done.stderr
    soft, reported_hard = map(int, done.stdout.split()[-2:])
    assert soft > 64 and (soft == reported_hard or reported_hard == resource.RLIM_INFINITY)
