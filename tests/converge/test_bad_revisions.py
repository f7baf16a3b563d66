"""A running controller following a git repository keeps its last good revision through
every malicious or broken commit the desired-state tests know (hostile_inputs.HOSTILE):
each is refused whole, recorded as refused, and nothing is applied for it: the emulator
sees no AWS call at all for such a revision (the status table aside), and the next
resync still converges the last good one with no change."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.controller import Controller, Timing
from controller.source import GitSource
from tests.converge.helpers import prepared, reconciler
from tests.desired_state.hostile_inputs import HOSTILE, OUTSIDE_SECRET

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _estate_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "estate"
    (repo / "desired_state").mkdir(parents=True)
    for path in EXAMPLE.glob("*.yaml"):
        (repo / "desired_state" / path.name).write_bytes(path.read_bytes())
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "config", "user.email", "platform@example.com")
    _git(repo, "config", "user.name", "Platform team")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "estate")
    return repo


def _aws_calls(aws) -> dict[str, int]:
    """Every call but the status table's (where the refusal itself is recorded)."""
    return {k: v for k, v in aws.request_counts().items() if not k.startswith("dynamodb:")}


@pytest.fixture
def following(aws, tmp_path):
    prepared(aws, load_desired_state(EXAMPLE))
    repo = _estate_repo(tmp_path)
    clock = ManualClock()
    rec = reconciler(aws, clock)
    source = GitSource(f"file://{repo}", tmp_path / "checkout", "main", "desired_state")
    controller = Controller(source, rec, clock, Timing(resync_seconds=3600, poll_seconds=10,
                                                       follow_up_seconds=3600))
    first = controller.tick()
    assert first is not None and first.result == "applied"
    controller.reconciler.snapshots.wait(timeout=120)  # the first snapshots, taken
    return repo, clock, controller


def test_every_hostile_commit_is_refused_and_nothing_is_applied_for_it(aws, following):
    repo, clock, controller = following
    good = _git(repo, "rev-parse", "HEAD")
    refused = []
    for name, change in HOSTILE:
        _git(repo, "reset", "--quiet", "--hard", good)
        _git(repo, "clean", "--quiet", "-fdx")
        change(repo / "desired_state")
        _git(repo, "add", "-A")
        _git(repo, "commit", "--quiet", "--allow-empty", "-m", f"hostile: {name}")
        bad = _git(repo, "rev-parse", "HEAD")
        aws.reset_request_counts()
        clock.advance(10)

        ran = controller.tick()

        assert ran is None, f"{name}: an invalid revision starts no pass"
        assert _aws_calls(aws) == {}, f"{name}: AWS was called for a refused revision"
        status = controller.revision_status
        assert (status.seen, status.valid, status.last_good) == (bad, False, good), name
        assert controller.desired is not None and controller.desired.revision == good, name
        assert status.problems, name
        refused.append(name)
    assert len(refused) == len(HOSTILE)
    assert not (repo / "planted").exists(), "a python tag in YAML ran"
    assert not any(OUTSIDE_SECRET in p for p in controller.revision_status.problems)
    _, stored = controller.reconciler.status.store.load()
    assert (stored.valid, stored.last_good) == (False, good)

    # The resync runs the last good revision, which is in force and converged.
    aws.reset_request_counts()
    clock.advance(3600)
    resync = controller.tick()
    assert resync is not None and resync.plan.revision == good
    assert resync.result == "converged" and resync.outcomes == []
    mutating = [k for k in _aws_calls(aws) if k.split(":")[1].startswith(
        ("Create", "Update", "Delete", "Put", "Tag", "Untag", "Add", "Start", "Stop"))]
    assert mutating == []
