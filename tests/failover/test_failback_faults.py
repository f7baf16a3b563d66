"""Throttling and 5xx during failback's fence and save lose nothing, and the estate
converges: the old copy's late writes (deep, sparse, with xattrs, hostile names) are all
in one recovery folder, exactly, and the active region then replicates back."""

from __future__ import annotations

import contextlib
import os
import stat
import time

import pytest

from controller.escaping import unescape
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from tests.converge.helpers import converge, file_system, plan_now, reconciler
from tests.failover.test_failback import PRIMARY, REPLICA, failed_over, start_app

HOSTILE = ["late\nerror: all fine.txt", "tab\tname", os.fsdecode(b"bytes-\xff.txt")]


def late_writes(old) -> dict[str, bytes]:
    """Files written in the old region after the failover, by relative path."""
    home = old / "home/research/alice"
    written: dict[str, bytes] = {}
    deep = home / "/".join(f"level-{n}" for n in range(60))
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_bytes(b"at the bottom")
    written[str((deep / "bottom.txt").relative_to(old))] = b"at the bottom"
    for name in HOSTILE:
        (home / name).write_bytes(name.encode("utf-8", "surrogateescape"))
        written[f"home/research/alice/{name}"] = name.encode("utf-8", "surrogateescape")
    with open(home / "sparse.bin", "wb") as out:
        out.seek(1 << 30)
        out.write(b"tail")
    (home / "tagged.txt").write_bytes(b"")
    os.setxattr(home / "tagged.txt", "user.project", b"apollo")
    written["home/research/alice/tagged.txt"] = b""
    for index in range(300):
        path = f"home/research/bob/many/{index:03d}.txt"
        (old / path).parent.mkdir(parents=True, exist_ok=True)
        (old / path).write_bytes(f"late {index}".encode())
        written[path] = f"late {index}".encode()
    return written


@pytest.mark.slow  # a whole failback through injected faults (~30 s)
def test_throttling_and_5xx_during_the_fence_and_save_lose_nothing(aws):
    desired, flipped, clock, old, new = failed_over(aws)
    written = late_writes(old)
    start_app(aws, PRIMARY, "research", "alice")
    standby = reconciler(aws, clock, region=PRIMARY, max_attempts=2)
    aws.set_faults(rate=0.3, kinds=("throttle", "5xx"), services={"sagemaker", "efs"}, seed=7)
    saved_and_open = False
    for _ in range(150):
        # An observation call that failed twice fails the pass: it is retried whole.
        with contextlib.suppress(Exception):
            standby.reconcile(flipped)
        record = standby.failover.record if standby.failover is not None else None
        if record is not None and record.phase == "ReadyForFailback":
            saved_and_open = True
            break
        standby.queue.pop_ready()
        clock.advance(60)
    aws.clear_faults()
    assert saved_and_open
    refused = sum(n for (_, _, outcome), n in standby.gateway.calls.items() if outcome != "ok")
    assert refused > 0, "faults were injected"

    (folder,) = (new / RECOVERY_ROOT).iterdir()  # one save, however many retries
    for path, content in written.items():
        assert (folder / path).read_bytes() == content, path
        mine, saved = os.lstat(old / path), os.lstat(folder / path)
        assert (saved.st_mode, saved.st_uid, saved.st_mtime_ns) == (
            mine.st_mode, mine.st_uid, mine.st_mtime_ns), path
    sparse = os.lstat(folder / "home/research/alice/sparse.bin")
    assert sparse.st_size == (1 << 30) + 4 and sparse.st_blocks * 512 < 1 << 20
    assert os.getxattr(folder / "home/research/alice/tagged.txt", "user.project") == b"apollo"
    rows = [line.split("\t") for line in (folder / RECOVERY_MANIFEST).read_text().splitlines()
            if not line.startswith("#")]
    listed = {unescape(path) for _, _, path in rows}
    assert set(written) | {"home/research/alice/sparse.bin"} <= listed
    assert all(len(row) == 3 for row in rows)
    assert not [p for p in folder.rglob("*") if p.name.startswith(".studio-copy-")]
    assert stat.S_IMODE(os.lstat(new / RECOVERY_ROOT).st_mode) == 0o700

    # The estate converges: the active region replicates back, the old region is in sync.
    converge(reconciler(aws, clock, region=REPLICA), flipped, clock)
    aws.sync_replication()
    clock.advance(time.time() + 1 - clock.now())
    standby.reconcile(flipped)
    assert standby.failover.record.phase == "InSync"
    assert plan_now(aws, flipped, PRIMARY).actions == ()
    assert file_system(aws, PRIMARY)["FileSystemProtection"][
        "ReplicationOverwriteProtection"] == "REPLICATING"
