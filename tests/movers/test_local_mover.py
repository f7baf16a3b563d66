"""The data movers' interface and its local engine: a job run through controller.movers
gives what the copy engine and the save walk give when called directly, and the engine is
chosen by what is mounted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.fs.copy import copy_tree
from controller.fs.salvage import save_unreplicated
from controller.movers import (
    CopyJob,
    JobRefused,
    MoverReport,
    MoverUnavailable,
    SaveJob,
    Tick,
    choose_engine,
    job_from_json,
    job_to_json,
    run_job,
)


def make_tree(root: Path) -> None:
    (root / "home/alice").mkdir(parents=True)
    (root / "home/alice/notes.txt").write_text("notes\n")
    (root / "home/alice/big.bin").write_bytes(bytes(range(256)) * 800)
    os.symlink("notes.txt", root / "home/alice/link")
    os.link(root / "home/alice/notes.txt", root / "home/alice/hard")
    (root / "home/alice/odd\nname\udcff").write_text("x")
    for name in ("notes.txt", "big.bin", "odd\nname\udcff"):
        os.utime(root / "home/alice" / name, ns=(1_600_000_000_000_000_000,) * 2)


def shape_of(root: Path) -> dict[str, tuple]:
    """Names, modes and content (trees made at different moments differ in mtimes)."""
    return {path: (mode, body) for path, (mode, _, _, _, body) in snapshot_of(root).items()}


def snapshot_of(root: Path) -> dict[str, tuple]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            body = (os.readlink(path) if path.is_symlink()
                    else path.read_bytes() if path.is_file() else b"")
            found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_mtime_ns,
                                                   info.st_nlink, body)
    return found


def test_a_copy_job_gives_what_the_copy_engine_gives(tmp_path):
    make_tree(tmp_path / "efs/fs-src")
    (tmp_path / "efs/fs-dst").mkdir()
    ticks: list[Tick] = []
    report = run_job(CopyJob("fs-src", "fs-dst", "working_copy"), tmp_path / "efs",
                     progress=ticks.append)
    direct = copy_tree(tmp_path / "efs/fs-src", tmp_path / "direct")
    assert snapshot_of(tmp_path / "efs/fs-dst") == snapshot_of(tmp_path / "direct")
    assert (report.engine, report.kind, report.ok) == ("local", "copy", True)
    assert (report.files, report.bytes) == (direct.files_copied, direct.bytes_copied)
    again = run_job(CopyJob("fs-src", "fs-dst", "working_copy"), tmp_path / "efs")
    assert again.files == 0 and again.skipped >= report.files


def test_a_copy_job_keeps_what_is_newer_in_the_target_and_reports_it(tmp_path):
    make_tree(tmp_path / "efs/fs-src")
    (tmp_path / "efs/fs-dst").mkdir()
    run_job(CopyJob("fs-src", "fs-dst", "working_copy"), tmp_path / "efs")
    mine = tmp_path / "efs/fs-dst/home/alice/notes.txt"
    mine.write_text("edited in the working copy\n")
    report = run_job(CopyJob("fs-src", "fs-dst", "active_active"), tmp_path / "efs")
    assert mine.read_text() == "edited in the working copy\n"
    assert "home/alice/notes.txt" in report.conflicts


def test_a_save_job_gives_what_the_save_walk_gives(tmp_path):
    for name in ("fs-old", "fs-active", "fs-old2", "fs-active2"):
        make_tree(tmp_path / "efs" / name)
    for old in ("fs-old", "fs-old2"):
        (tmp_path / "efs" / old / "home/alice/late.txt").write_text("written after failover")
        (tmp_path / "efs" / old / "home/alice/notes.txt").write_text("changed too\n")
    compared: list[int] = []
    report = run_job(SaveJob("fs-old", "fs-active", "failback-1"), tmp_path / "efs",
                     progress=lambda tick: compared.append(tick.files))
    direct = save_unreplicated(tmp_path / "efs/fs-old2", tmp_path / "efs/fs-active2",
                               "failback-1")
    recovery = ".studio-operator-recovery/failback-1"
    assert shape_of(tmp_path / "efs/fs-active" / recovery) == shape_of(
        tmp_path / "efs/fs-active2" / recovery)
    assert sorted((s.path, s.reason) for s in report.saved) == sorted(
        (s.path, s.reason) for s in direct.saved)
    # hard is notes.txt under another name: changed with it.
    assert {s.path for s in report.saved} == {"home/alice/late.txt", "home/alice/notes.txt",
                                              "home/alice/hard"}
    assert report.summary == direct.summary() and report.folder == direct.folder
    assert report.files == 3 and report.compared == direct.compared


def test_reports_and_jobs_survive_their_json_form_with_any_name(tmp_path):
    make_tree(tmp_path / "efs/fs-old")
    (tmp_path / "efs/fs-active").mkdir()
    report = run_job(SaveJob("fs-old", "fs-active", "f"), tmp_path / "efs")
    assert any("\udcff" in s.path for s in report.saved)
    assert MoverReport.from_json(report.to_json()) == report
    for job in (CopyJob("fs-a", "fs-b", "working_copy", "home", "x"),
                SaveJob("fs-a", "fs-b", "failback-2")):
        assert job_from_json(job_to_json(job)) == job
    with pytest.raises(ValueError):
        job_from_json('{"version": 1, "kind": "delete", "path": "/"}')
    with pytest.raises(ValueError):
        job_from_json('{"version": 1, "kind": "copy", "source_fs": "fs-a"}')


def test_a_job_cannot_climb_out_of_its_file_system(tmp_path):
    make_tree(tmp_path / "efs/fs-src")
    (tmp_path / "efs/fs-dst").mkdir()
    with pytest.raises(JobRefused):
        run_job(CopyJob("fs-src", "fs-dst", "working_copy", source_path="../fs-dst"),
                tmp_path / "efs")


class NamedEngine:
    name = "worker"

    def run(self, job, progress=None):
        raise AssertionError("not called by choose_engine")


def test_the_engine_is_chosen_by_what_is_mounted_here(tmp_path):
    (tmp_path / "efs/fs-a").mkdir(parents=True)
    job = CopyJob("fs-a", "fs-b", "working_copy")
    with pytest.raises(MoverUnavailable) as waiting:
        choose_engine(job, tmp_path / "efs", None)
    assert waiting.value.waiting and "fs-b" in str(waiting.value)
    with pytest.raises(MoverUnavailable) as never:
        choose_engine(job, None, None)
    assert not never.value.waiting
    assert choose_engine(job, tmp_path / "efs", NamedEngine()) == "worker"
    assert choose_engine(job, None, NamedEngine()) == "worker"
    (tmp_path / "efs/fs-b").mkdir()
    assert choose_engine(job, tmp_path / "efs", NamedEngine()) == "local"
