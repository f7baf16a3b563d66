"""The copy's worker count: chosen from the file systems' type and round trip, unless set.

The rule is a pure function (medium.choose_workers) tested directly; the statfs read is
tested on real folders of this machine (tmpfs and the root file system), with coreutils'
`stat -f` as the independent reading of the same f_type.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import pytest

from controller.cli import copy_cmd
from controller.fs.copy import copy_tree, medium
from controller.fs.copy.medium import (
    NETWORK_MAX,
    NETWORK_MIN,
    SLOW_ROUND_TRIP,
    Side,
    choose_workers,
    kind_of,
    network_workers,
)
from tests.copy.conftest import make_source

SHM = Path("/dev/shm")
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY


def local(name: str = "ext4", round_trip: float = 2e-6) -> Side:
    return Side("local", name, round_trip)


def network(name: str = "nfs", round_trip: float = 1e-3) -> Side:
    return Side("network", name, round_trip)


def test_the_kinds_of_the_usual_file_systems():
    assert kind_of(0xEF53) == ("local", "ext4")
    assert kind_of(0x58465342) == ("local", "xfs")
    assert kind_of(0x9123683E) == ("local", "btrfs")
    assert kind_of(0x01021994) == ("local", "tmpfs")
    assert kind_of(0x6969) == ("network", "nfs")  # EFS
    assert kind_of(0x65735546) == ("network", "fuse")
    assert kind_of(0x12345678) == ("unknown", "type 0x12345678")
    assert kind_of(None) == ("unknown", "unknown")


def test_a_local_disk_gets_one_worker_per_core():
    assert choose_workers([local(), local("tmpfs")], cores=2).workers == 2
    assert choose_workers([local()], cores=8).workers == 8
    assert choose_workers([local()], cores=0).workers == 1
    assert "one worker per core" in choose_workers([local()], cores=2).reason


def test_a_network_file_system_gets_many_workers_even_when_it_answers_fast():
    # An NFS server next door still costs each call a wake-up: never fewer than the floor.
    assert choose_workers([network(round_trip=20e-6)], cores=2).workers == NETWORK_MIN
    assert choose_workers([network("fuse", 20e-6)], cores=64).workers == NETWORK_MIN


def test_the_slower_a_round_trip_the_more_workers_up_to_the_ceiling():
    counts = [network_workers(seconds) for seconds in (0, 100e-6, 500e-6, 1e-3, 1.5e-3,
                                                        3e-3, 50e-3)]
    assert counts == sorted(counts)
    assert counts[0] == NETWORK_MIN and counts[-1] == NETWORK_MAX
    # At EFS-like 1 ms: between 32 and 64, where the copy measured fastest under latfs.
    assert 32 <= network_workers(1e-3) <= 48


def test_the_slower_side_decides_and_a_network_side_wins_over_a_local_one():
    choice = choose_workers([local("tmpfs"), network("nfs", 1e-3)], cores=2)
    assert choice.workers == network_workers(1e-3)
    assert choice.reason == "nfs: 1.00 ms per round trip"
    both = choose_workers([network("nfs", 2e-3), network("fuse", 1e-3)], cores=2)
    assert both.workers == network_workers(2e-3) and both.reason.startswith("nfs")


def test_a_slow_round_trip_counts_whatever_the_type_says():
    # A local type slow to answer (or a type not in the tables) is treated as a network.
    slow = 2 * SLOW_ROUND_TRIP
    assert choose_workers([local("ext4", slow)], cores=2).workers == network_workers(slow)
    unknown = Side("unknown", "type 0x12345678", 1e-3)
    assert choose_workers([unknown], cores=2).workers == network_workers(1e-3)
    fast_unknown = Side("unknown", "type 0x12345678", 3e-6)
    assert choose_workers([fast_unknown], cores=4).workers == 4


def test_the_probe_keeps_the_fastest_of_its_statfs_calls(tmp_path):
    ticks = iter([0.0, 0.004, 1.0, 1.001, 2.0, 2.0005, 3.0, 3.002, 4.0, 4.003])
    fd = os.open(tmp_path, OPEN_DIR)
    try:
        side = medium.probe(fd, clock=lambda: next(ticks))
    finally:
        os.close(fd)
    assert side.round_trip == pytest.approx(0.0005)


def f_type_by_coreutils(path: Path) -> int:
    out = subprocess.run(["stat", "-f", "--format=%t", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.strip(), 16)


@pytest.mark.parametrize("where", ["tmpfs", "tmp_path"])
def test_the_probe_reads_the_type_of_a_real_file_system(where, tmp_path):
    path = SHM if where == "tmpfs" else tmp_path
    expected = f_type_by_coreutils(path)
    if where == "tmpfs":
        assert expected == 0x01021994, "/dev/shm is tmpfs on this project's machines"
    fd = os.open(path, OPEN_DIR)
    try:
        side = medium.probe(fd)
    finally:
        os.close(fd)
    assert (side.kind, side.name) == kind_of(expected)
    assert side.kind == "local", f"{path} ({side.name}) is a local disk here"
    # Answered from memory: far below a network's round trip.
    assert 0 < side.round_trip < SLOW_ROUND_TRIP


def test_a_copy_between_local_folders_runs_one_worker_per_core_and_says_why(tmp_path):
    src = make_source(tmp_path, tmp_path / "outside")
    report = copy_tree(src, tmp_path / "dst")
    assert report.ok, report.errors
    assert report.workers == medium.cores()
    assert "one worker per core" in report.workers_reason
    assert kind_of(f_type_by_coreutils(tmp_path))[1] in report.workers_reason


def test_a_worker_count_that_is_set_is_used_as_it_is(tmp_path):
    src = make_source(tmp_path, tmp_path / "outside")
    report = copy_tree(src, tmp_path / "dst", workers=3)
    assert report.ok and report.workers == 3
    assert report.workers_reason == "set by the caller"


def studioctl_copy(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="studioctl")
    copy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["copy", *argv])
    code = int(args.func(args))
    return code, capsys.readouterr().out


def test_studioctl_copy_reports_the_workers_it_chose_or_was_given(tmp_path, capsys):
    src = make_source(tmp_path, tmp_path / "outside")
    code, text = studioctl_copy(capsys, str(src), str(tmp_path / "a"))
    assert code == 0
    assert f"workers: {medium.cores()} (" in text and "one worker per core" in text
    code, out = studioctl_copy(capsys, str(src), str(tmp_path / "b"), "--workers", "5",
                               "--output", "json")
    report = json.loads(out)
    assert code == 0
    assert (report["workers"], report["workers_reason"]) == (5, "set by the caller")
