"""`studioctl drill`: the whole failover story in local mode passes, and its checks can
fail (a file changed in the replica after the flip is caught)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.cli.drill_cmd import _flip, _git
from controller.cli.drill_story import Drill

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _repo(tmp_path: Path) -> Path:
    import shutil

    repo = tmp_path / "estate"
    shutil.copytree(EXAMPLE, repo / "desired_state")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "estate")
    return repo


@pytest.mark.slow  # the whole drill, two controllers, failover and failback (~20 s)
def test_the_drill_fails_over_by_git_commit_and_every_check_passes(tmp_path, emulator):
    # `emulator` only so the session's AWS environment is set; the drill runs its own.
    repo = _repo(tmp_path)
    said: list[str] = []
    result = Drill(repo, tmp_path / "data", timeout=60, say=said.append).run(
        flip=lambda: _flip(repo))
    assert result.new_region == "us-west-2"
    assert [c.name for c in result.checks if not c.passed] == []
    assert len(result.checks) == 8
    assert result.recovery_seconds is not None and result.recovery_seconds < 60
    assert any("failover to us-west-2 complete" in line for line in said)
    assert any("failback to us-east-1 complete" in line for line in said)
    assert result.recovery_folder.startswith(".studio-operator-recovery/")
    assert result.recovery_folder.endswith("written-in-old-region-after-failover.txt")
    assert result.failback_seconds is not None


def test_the_drill_reports_files_that_differ_after_the_flip(tmp_path, emulator):
    repo = _repo(tmp_path)
    drill = Drill(repo, tmp_path / "data", timeout=60, say=lambda _: None)

    def flip_and_keep_writing_in_the_old_region() -> str:
        # the region is cut off: nothing written from now on replicates
        assert drill.emulator is not None
        drill.emulator.set_replication_interval(3600)
        time.sleep(1.0)  # let a mirror pass already under way finish
        region = _flip(repo)
        notebook = drill.mount("us-east-1") / "home/research/alice/analysis.ipynb"
        notebook.write_text("written in the old region after the flip")
        return region

    result = drill.run(flip=flip_and_keep_writing_in_the_old_region, failback=False)
    failed = {c.name: c.detail for c in result.checks if not c.passed}
    assert list(failed) == ["files arrived with the same content, owner and mode"]
    assert "home/research/alice/analysis.ipynb" in failed[
        "files arrived with the same content, owner and mode"]
    assert not result.passed


def test_the_drill_reports_what_had_not_replicated_at_the_flip(tmp_path, emulator):
    repo = _repo(tmp_path)
    holder: dict[str, Drill] = {}

    def say(line: str) -> None:
        if line == "the files replicated":  # then the link to the replica slows down
            drill = holder["drill"]
            assert drill.emulator is not None
            drill.emulator.set_replication_interval(3600)
            time.sleep(1.0)  # a mirror pass already under way finishes first
            late = drill.mount("us-east-1") / "home/research/bob/unsaved-model.pt"
            late.write_bytes(b"weights")

    holder["drill"] = Drill(repo, tmp_path / "data", timeout=60, say=say)
    result = holder["drill"].run(flip=lambda: _flip(repo), failback=False)
    failed = {c.name: c.detail for c in result.checks if not c.passed}
    assert list(failed) == ["nothing was still to replicate at the flip"]
    assert failed["nothing was still to replicate at the flip"] == (
        "not yet replicated: home/research/bob/unsaved-model.pt")
