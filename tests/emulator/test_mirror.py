"""The replicator's folder mirror keeps what EFS replication keeps."""

from __future__ import annotations

import os

from controller.emulator.mirror import mirror_tree


def test_a_mirror_copies_content_modes_mtimes_symlinks_and_hard_links(tmp_path):
    source, replica = tmp_path / "source", tmp_path / "replica"
    (source / "team").mkdir(parents=True)
    os.chmod(source / "team", 0o750)
    data = source / "team" / "data.csv"
    data.write_text("a,b\n")
    os.chmod(data, 0o640)
    os.utime(data, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    os.link(data, source / "team" / "same.csv")
    (source / "link").symlink_to("team/data.csv")
    (source / "dangling").symlink_to("nowhere")

    stats = mirror_tree(source, replica)

    copied = replica / "team" / "data.csv"
    assert copied.read_text() == "a,b\n"
    assert (copied.stat().st_mode & 0o7777, (replica / "team").stat().st_mode & 0o7777) == (
        0o640,
        0o750,
    )
    assert copied.stat().st_mtime_ns == 1_600_000_000_123_456_789
    assert os.path.samefile(copied, replica / "team" / "same.csv")
    assert os.readlink(replica / "link") == "team/data.csv"
    assert os.readlink(replica / "dangling") == "nowhere"
    assert stats.files_copied == 1


def test_a_second_pass_copies_nothing_and_removes_what_the_source_lost(tmp_path):
    source, replica = tmp_path / "source", tmp_path / "replica"
    (source / "keep").mkdir(parents=True)
    (source / "keep" / "a.txt").write_text("a")
    (source / "gone.txt").write_text("b")
    mirror_tree(source, replica)
    (source / "gone.txt").unlink()
    (replica / "stray.txt").write_text("written to the replica by mistake")

    stats = mirror_tree(source, replica)

    assert (stats.files_copied, stats.entries_removed) == (0, 2)
    assert sorted(p.name for p in replica.iterdir()) == ["keep"]


def test_a_changed_file_and_a_changed_type_are_brought_back_in_line(tmp_path):
    source, replica = tmp_path / "source", tmp_path / "replica"
    source.mkdir()
    (source / "f").write_text("one")
    (source / "d").mkdir()
    mirror_tree(source, replica)
    (source / "f").write_text("two!")
    os.rmdir(source / "d")
    (source / "d").write_text("now a file")

    mirror_tree(source, replica)

    assert (replica / "f").read_text() == "two!"
    assert (replica / "d").read_text() == "now a file"
