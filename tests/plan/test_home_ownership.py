"""Which existing share directory the plan hands to its owner, re-owns, or reports
(controller.plan.homes); pure, on observed states built in memory."""

from __future__ import annotations

from dataclasses import replace

from controller.model import Posix, ShareScope, ShareSpec, SpaceBackupSpec
from controller.observed import HomeCensus, ObservedDirectory, ObservedState
from controller.plan import make_plan
from controller.plan.render import render_text
from tests.plan.estates import converged, estate

EXAMPLE = {"research": [("alice", 200101, 1001), ("bob", 200102, 1001)]}
HOME = ("efs", "/home/research/alice")


def _seen(observed: ObservedState, key: tuple[str, str], **changes) -> ObservedState:
    dirs = dict(observed.directories)
    dirs[key] = replace(dirs[key], **changes)
    return replace(observed, directories=dirs)


def _census(to_reown: int = 5, others: int = 0, **more) -> HomeCensus:
    return HomeCensus(200101, 1001, to_reown=to_reown, current=0, others=others, linked=0,
                      **more)


def test_a_home_owned_by_another_user_is_a_problem_naming_owner_and_path():
    desired = estate(EXAMPLE)
    observed = _seen(converged(desired), HOME, uid=200102, gid=1001, empty=False)
    plan = make_plan(desired, observed)
    assert plan.actions == ()
    assert plan.problems == (
        "Directory/efs:/home/research/alice: /home/research/alice exists owned by "
        "200102:1001 (not empty), not by profile research/alice (200101:1001); the operator "
        "did not make it, so it does not hand it over: check what is in it, then chown it "
        "to 200101:1001 yourself, or move it aside for the operator to make a new one",)


def test_root_owned_is_finished_only_when_empty():
    desired = estate(EXAMPLE)
    empty = make_plan(desired, _seen(converged(desired), HOME, uid=0, gid=0, empty=True))
    assert [(a.name, a.key.name) for a in empty.actions] == [
        ("SetDirectoryOwnership", "efs:/home/research/alice")]
    full = make_plan(desired, _seen(converged(desired), HOME, uid=0, gid=0, empty=False))
    assert full.actions == () and "exists owned by 0:0 (not empty)" in full.problems[0]


def test_the_same_uid_with_another_group_is_corrected_in_place():
    desired = estate(EXAMPLE)
    plan = make_plan(desired, _seen(converged(desired), HOME, gid=4242, empty=False))
    assert [(a.name, [c.path for c in a.changes]) for a in plan.actions] == [
        ("SetDirectoryOwnership", ["Gid"])]


def test_a_gid_change_re_owns_the_home_too():
    desired = estate(EXAMPLE)
    observed = _seen(converged(desired), HOME, census=_census(3))
    moved = estate({"research": [("alice", 200101, 2002), ("bob", 200102, 1001)]})
    plan = make_plan(moved, observed)
    reown = next(a for a in plan.actions if a.name == "ReownHome")
    assert (reown.params["Gid"], reown.params["PreviousGid"], reown.params["Entries"]) == (
        2002, 1001, 3)
    update = next(a for a in plan.actions if a.name == "UpdateUserProfile")
    assert len(update.after) == 1


def test_a_pending_change_on_a_home_someone_else_owns_is_reported_not_re_owned():
    desired = estate(EXAMPLE)
    observed = _seen(converged(desired), HOME, uid=200102, census=_census(), empty=False)
    moved = estate({"research": [("alice", 200999, 1001), ("bob", 200102, 1001)]})
    plan = make_plan(moved, observed)
    assert not any(a.name == "ReownHome" for a in plan.actions)
    assert any("exists owned by 200102:1001" in p for p in plan.problems)
    update = next(a for a in plan.actions if a.name == "UpdateUserProfile")
    assert update.after == ()


def test_entries_left_to_others_are_named_in_the_plan():
    desired = estate(EXAMPLE)
    observed = _seen(converged(desired), HOME, census=_census(
        2, others=1, examples=("'from-bob.txt' (200102:1001)",)))
    moved = estate({"research": [("alice", 200999, 1001), ("bob", 200102, 1001)]})
    text = render_text(make_plan(moved, observed))
    assert ("note: Directory/efs:/home/research/alice: ids 200101:1001 -> 200999:1001 for "
            "research/alice; entries left as they are: 1 owned by others (such as "
            "'from-bob.txt' (200102:1001))") in text


def test_a_re_own_already_done_plans_nothing_for_the_directory():
    desired = estate(EXAMPLE)
    moved = estate({"research": [("alice", 200999, 1001), ("bob", 200102, 1001)]})
    observed = _seen(converged(desired), HOME, uid=200999, census=_census(0))
    plan = make_plan(moved, observed)
    assert [a.name for a in plan.actions] == ["UpdateUserProfile"]
    assert plan.actions[0].after == ()


def test_a_space_backup_root_is_taken_back_by_root_whoever_has_it():
    base = estate(EXAMPLE)
    backups = ShareSpec("backups", "efs", ShareScope.DOMAIN, "/backups/{domain}", 0o755)
    research = replace(base.domains["research"], space_backup=SpaceBackupSpec(True, "backups"))
    desired = replace(base, shares={**base.shares, "backups": backups},
                      domains={**base.domains, "research": research})
    observed = converged(base)
    # the scripts name the file system, so it needs a real-looking id
    refs = observed.references
    fs = replace(refs.file_systems["efs"], file_system_id="fs-0123456789abcdef0")
    dirs = {(d.file_system, d.path): ObservedDirectory("directory", d.owner.uid, d.owner.gid,
                                                       d.mode)
            for d in desired.share_directories()}
    assert dirs[("efs", "/backups/research")].uid == 0
    shared = dirs[("efs", "/backups/research/_shared-spaces")]
    assert (shared.uid, shared.mode) == (desired.domains["research"].default_posix.uid, 0o700)
    dirs[("efs", "/backups/research")] = ObservedDirectory("directory", 200001, 1001, 0o755,
                                                           empty=False)
    observed = replace(observed, directories=dirs,
                       references=replace(refs, file_systems={"efs": fs}))
    plan = make_plan(desired, observed)
    assert [(a.name, a.key.name, a.params["Uid"]) for a in plan.actions
            if a.key.kind == "Directory"] == [
        ("SetDirectoryOwnership", "efs:/backups/research", 0)]
    assert desired.domains["research"].default_posix == Posix(200001, 1001)


def test_without_root_nothing_is_reported_about_owners():
    desired = estate(EXAMPLE)
    observed = replace(_seen(converged(desired), HOME, uid=4242, empty=False),
                       can_set_owners=False)
    plan = make_plan(desired, observed)
    assert plan.actions == () and plan.problems == ()


def test_a_missing_or_linked_directory_is_unchanged_behaviour():
    desired = estate(EXAMPLE)
    missing = make_plan(desired, _seen(converged(desired), HOME, kind="missing"))
    assert [a.name for a in missing.actions] == ["CreateDirectory"]
    link = make_plan(desired, _seen(converged(desired), HOME, kind="symlink",
                                    blocked_at="/home/research/alice"))
    assert link.actions == () and "is a symlink" in link.problems[0]
    assert ObservedDirectory("directory").census is None
