"""The restore survives Studio's 5-minute limit on lifecycle scripts.

The script checks, starts the copy in the background and returns; the copy goes to a
staging folder in the home and is then moved into place entry by entry. An app restart
in the middle (the copy killed) does not leave a half-filled home that the next start
refuses to restore over: the next start finishes the job.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.lifecycle.conftest import Space, copy_tool, with_wrapper

STAGING = ".studio-operator-restore"
MARKER = ".studio-operator-restored"
BIG = "x" * 4096


def populate_backup(space: Space) -> None:
    (space.backup / "notebooks" / "deep").mkdir(parents=True)
    (space.backup / "notebooks" / "a.ipynb").write_text("{}")
    (space.backup / "notebooks" / "deep" / "big.bin").write_text(BIG)
    (space.backup / ".bashrc").write_text("# mine\n")
    (space.backup / ".config").mkdir()
    (space.backup / ".config" / "tool.json").write_text("{}")
    (space.backup / "big.bin").write_text(BIG)
    (space.backup / "small.txt").write_text("s")


def fully_restored(space: Space) -> None:
    home = space.home
    assert (home / "notebooks" / "a.ipynb").read_text() == "{}"
    assert (home / "notebooks" / "deep" / "big.bin").read_text() == BIG
    assert (home / "big.bin").read_text() == BIG
    assert (home / "small.txt").read_text() == "s"
    assert (home / ".bashrc").read_text() == "# mine\n"
    assert (home / ".config" / "tool.json").read_text() == "{}"
    assert "restored_at=" in (home / MARKER).read_text()
    assert not (home / STAGING).exists()
    # nothing half written left behind (rsync's temporary names start with a dot)
    names = {p.name for p in home.rglob("*")}
    assert names == {"notebooks", "a.ipynb", "deep", "big.bin", ".bashrc", ".config",
                     "tool.json", "small.txt", MARKER, ".cache"}


def studio_fresh_home(space: Space) -> None:
    (space.home / ".bashrc").write_text("# studio default\n")
    (space.home / ".cache").mkdir()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill_background_restore(space: Space) -> None:
    """SIGKILL the restore's process group, as the end of an app does."""
    pid = int((space.state / "restore.pid").read_text())
    assert os.getpgid(pid) == pid != os.getpgid(0), "not a group of its own"
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie until reaped by init: look at its state
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _hang(flag: Path) -> str:
    return f': > {flag}\nexec sleep 600'


def test_the_script_returns_at_once_and_the_restore_finishes_in_the_background(
        space: Space) -> None:
    populate_backup(space)
    studio_fresh_home(space)
    slow = with_wrapper(space, copy_tool(space), 'sleep 3\nexec "$REAL" "$@"')
    started = time.monotonic()

    result = space.restore(PATH=slow, STUDIO_OPERATOR_FOREGROUND="0")

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 2.5
    assert "in the background" in result.stderr
    assert not (space.home / MARKER).exists()
    log = space.state / "restore.log"
    wait_for(lambda: f"restored {space.home} from {space.backup}" in log.read_text())
    fully_restored(space)


def test_a_restore_killed_while_copying_is_finished_by_the_next_start(space: Space) -> None:
    populate_backup(space)
    studio_fresh_home(space)
    flag = space.root / "copied-part"
    if copy_tool(space) == "rsync":
        # Copies the small files only, then hangs until killed.
        partial = f'"$REAL" --max-size=1000 "$@" || true\n{_hang(flag)}'
    else:
        partial = (f'if [[ " $* " == *" -xpf "* ]]; then "$REAL" "$@" --exclude=big.bin || '
                   f'true; {_hang(flag)}; fi\nexec "$REAL" "$@"')
    path = with_wrapper(space, copy_tool(space), partial)
    assert space.restore(PATH=path, STUDIO_OPERATOR_FOREGROUND="0").returncode == 0
    wait_for(flag.exists)
    kill_background_restore(space)
    assert (space.home / STAGING / "tree" / "small.txt").exists()
    assert not (space.home / "small.txt").exists() and not (space.home / MARKER).exists()
    backup_before = (space.backup / ".bashrc").read_text()

    # Meanwhile the backup loop must not back Studio's defaults up over the backup.
    backup = space.backup_now()
    assert backup.returncode == 0, backup.stderr
    assert "restore" in backup.stderr and "in progress" in backup.stderr
    assert (space.backup / ".bashrc").read_text() == backup_before

    result = space.restore()

    assert result.returncode == 0, result.stderr
    assert "resuming the restore" in result.stderr
    fully_restored(space)


def test_a_restore_killed_while_moving_into_place_is_finished_by_the_next_start(
        space: Space) -> None:
    populate_backup(space)
    studio_fresh_home(space)
    flag = space.root / "moved-one"
    count = space.root / "moves"
    # The second rename out of the staging tree hangs until killed.
    path = with_wrapper(space, "mv", f"""
if [[ "$*" == */{STAGING}/tree/* ]]; then
  printf x >> {count}
  if [[ $(wc -c < {count}) -ge 2 ]]; then {_hang(flag)}; fi
fi
exec "$REAL" "$@"
""")
    assert space.restore(PATH=path, STUDIO_OPERATOR_FOREGROUND="0").returncode == 0
    wait_for(flag.exists)
    kill_background_restore(space)
    assert not (space.home / MARKER).exists()
    assert (space.home / STAGING / "phase").read_text().startswith("phase=moving")

    result = space.restore()

    assert result.returncode == 0, result.stderr
    fully_restored(space)


def test_what_the_user_made_while_the_restore_ran_is_kept(space: Space) -> None:
    populate_backup(space)
    flag = space.root / "copied"
    path = with_wrapper(space, copy_tool(space),
                        f'"$REAL" "$@"\nstatus=$?\n: > {flag}\nsleep 1\nexit $status')
    assert space.restore(PATH=path, STUDIO_OPERATOR_FOREGROUND="0").returncode == 0
    wait_for(flag.exists)
    (space.home / "small.txt").write_text("typed during the restore")
    log = space.state / "restore.log"
    wait_for(lambda: f"restored {space.home}" in log.read_text())

    assert (space.home / "small.txt").read_text() == "typed during the restore"
    assert (space.home / STAGING / "conflicts" / "small.txt").read_text() == "s"
    assert (space.home / "notebooks" / "a.ipynb").read_text() == "{}"
    assert "kept small.txt" in log.read_text()
