"""The controller follows a git repository: a commit changes what is converged, an
invalid commit is refused whole and the last good revision stays in force."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.controller import Controller, Timing
from controller.source import GitSource
from tests.converge.helpers import REGION, prepared, reconciler

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "estate"
    shutil.copytree(EXAMPLE, repo / "desired_state")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "config", "user.email", "platform@example.com")
    _git(repo, "config", "user.name", "Platform team")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "estate")
    return repo


def _commit(repo: Path, file: str, old: str, new: str, message: str) -> str:
    path = repo / "desired_state" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    _git(repo, "commit", "--quiet", "-am", message)
    return _git(repo, "rev-parse", "HEAD")


def _uid_of(aws, profile: str) -> int:
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == "research")
    settings = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=profile)
    return int(settings["UserSettings"]["CustomPosixUserConfig"]["Uid"])


def test_a_commit_changes_what_is_converged_and_a_bad_commit_is_refused(aws, tmp_path):
    prepared(aws, load_desired_state(EXAMPLE))
    repo = _repo(tmp_path)
    clock = ManualClock()
    rec = reconciler(aws, clock)
    source = GitSource(f"file://{repo}", tmp_path / "checkout", "main", "desired_state")
    # No follow-up passes here: every pass below is started by a commit or the resync.
    controller = Controller(source, rec, clock, Timing(resync_seconds=300, poll_seconds=10,
                                                       follow_up_seconds=300))

    first = controller.tick()
    head = _git(repo, "rev-parse", "HEAD")
    assert first is not None and first.result == "applied"
    assert controller.desired is not None and controller.desired.revision == head
    assert _uid_of(aws, "alice") == 200101

    changed = _commit(repo, "research.yaml", "uid: 200101", "uid: 200111", "alice: new uid")
    clock.advance(10)
    second = controller.tick()
    assert second is not None
    assert [(o.action, str(o.key)) for o in second.outcomes if o.key.kind == "UserProfile"] == [
        ("UpdateUserProfile", "UserProfile/research/alice")]
    assert _uid_of(aws, "alice") == 200111
    assert controller.desired.revision == changed

    bad = _commit(repo, "research.yaml", "uid: 200102", "uid: 12", "bob: a uid out of range")
    clock.advance(10)
    third = controller.tick()
    assert third is None, "an invalid revision starts no pass"
    assert controller.desired.revision == changed, "the last good revision stays in force"
    assert not controller.revision_status.valid
    assert controller.revision_status.seen == bad
    assert controller.revision_status.last_good == changed
    assert any("research.yaml" in p and "uid" in p for p in controller.revision_status.problems)
    # the refusal is recorded where `studioctl status` reads it
    _, stored = rec.status.store.load()
    assert (stored.seen, stored.valid, stored.last_good) == (bad, False, changed)
    # and the resync still converges the last good revision
    clock.advance(300)
    fourth = controller.tick()
    assert fourth is not None and fourth.plan.revision == changed


def test_deleting_a_file_in_a_commit_removes_it_from_the_checkout(aws, tmp_path):
    repo = _repo(tmp_path)
    source = GitSource(f"file://{repo}", tmp_path / "checkout", "main", "desired_state")
    assert (source.fetch().path / "analytics.yaml").exists()
    _git(repo, "rm", "--quiet", "desired_state/analytics.yaml")
    _git(repo, "commit", "--quiet", "-m", "drop analytics")
    assert not (source.fetch().path / "analytics.yaml").exists()


def test_a_pass_that_changed_something_is_followed_up_soon_a_converged_one_is_not(
        aws, tmp_path):
    prepared(aws, load_desired_state(EXAMPLE))
    repo = _repo(tmp_path)
    clock = ManualClock()
    source = GitSource(f"file://{repo}", tmp_path / "checkout", "main", "desired_state")
    controller = Controller(source, reconciler(aws, clock), clock,
                            Timing(resync_seconds=300, poll_seconds=100, follow_up_seconds=5))
    first = controller.tick()
    assert first is not None and first.result == "applied"
    clock.advance(4)
    assert controller.tick() is None
    clock.advance(1)
    follow_up = controller.tick()
    assert follow_up is not None and follow_up.result == "converged"
    clock.advance(299)
    assert controller.tick() is None, "converged: next pass at the resync"
    clock.advance(1)
    assert controller.tick() is not None
