"""The restore runs as root on a volume its user can write: nothing the user does to the
volume, and nothing a snapshot holds, may make it write outside the volume or leave a
program that runs as root for whoever starts it."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.notebooks.conftest import MakeInstance
from tests.notebooks.test_lifecycle_script import snapshots

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="set-id owners and root's "
                                "folders need root")


def snapshot_of(make_instance: MakeInstance, fill) -> str:  # type: ignore[no-untyped-def]
    old = make_instance("research-notebook", ec2_user="500:500")
    fill(old.volume)
    assert old.run().returncode == 0
    (manifest,) = snapshots(old.aws.endpoint_url)
    return str(manifest["id"])


@needs_root
def test_a_restore_lands_no_set_id_program_of_root(make_instance: MakeInstance) -> None:
    """A snapshot is written with the instance's role, which its user holds too: one that
    carries a set-uid root program must not give the new instance's user root."""
    def fill(volume: Path) -> None:
        for name, mode in (("su-root", 0o4755), ("sg-root", 0o2755)):
            (volume / name).write_text("#!/bin/sh\n")
            os.chmod(volume / name, mode)
        (volume / "mine").write_text("#!/bin/sh\n")
        os.lchown(volume / "mine", 500, 500)
        os.chmod(volume / "mine", 0o4755)  # the user's own set-uid: kept, as its owner's
    snapshot = snapshot_of(make_instance, fill)
    new = make_instance("research-notebook-2")
    new.tag(restore_snapshot=snapshot, restore_owner_map="500:1000")

    result = new.run()

    assert result.returncode == 0, result.stderr
    for name in ("su-root", "sg-root"):
        mode = (new.volume / name).lstat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID), f"{name}: {oct(mode)}"
    mine = (new.volume / "mine").lstat()
    assert (mine.st_uid, stat.S_IMODE(mine.st_mode)) == (1000, 0o4755)


@needs_root
def test_a_staging_folder_swapped_for_a_link_does_not_move_the_restore(
        make_instance: MakeInstance, tmp_path: Path) -> None:
    """The user renames the root-only staging folder (its parent is theirs) and puts a
    link to a root folder in its place just before tar runs: the restore still lands in
    the volume, and nothing in the link's target."""
    def fill(volume: Path) -> None:
        (volume / "notes.txt").write_text("the user's notes")
    snapshot = snapshot_of(make_instance, fill)
    new = make_instance("research-notebook-2")
    new.tag(restore_snapshot=snapshot)
    elsewhere = tmp_path / "root-only"
    (elsewhere / "tree").mkdir(parents=True)
    os.chmod(elsewhere, 0o700)
    tools = tmp_path / "hostile-bin"
    tools.mkdir()
    staging = new.volume / ".studio-operator-restore"
    (tools / "tar").write_text(f"""#!/bin/bash
if [[ " $* " == *" -x "* && -d {staging} && ! -L {staging} ]]; then
  mv -T -- {staging} {new.volume}/moved-away
  ln -s -- {elsewhere} {staging}
fi
exec {shutil.which("tar")} "$@"
""")
    os.chmod(tools / "tar", 0o755)
    path = f"{tools}:{new.env()['PATH']}"

    result = new.run(PATH=path)

    assert result.returncode == 0, result.stderr
    assert (elsewhere / "tree").is_dir() and list((elsewhere / "tree").iterdir()) == []
    assert (new.volume / "notes.txt").read_text() == "the user's notes"
