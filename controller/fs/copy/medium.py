"""How many workers a copy gets: chosen from what the two trees live on, unless set.

The rule, and why:

- Each side is probed once at the start, on the root directory the copy already holds
  open: fstatfs gives the file system's type (f_type), and the fastest of a few fstatfs
  calls is the round trip of one metadata operation there. On a local file system
  statfs is answered from memory (microseconds); on NFS (EFS) and FUSE every statfs goes
  to the server or the daemon, so it costs what a lookup or a getattr costs.
- Local disk (ext4, xfs, btrfs, tmpfs, overlayfs...; fast round trips): the work is CPU
  in the kernel (copying, creating inodes) and in Python, which holds the GIL. One worker
  per core lets the kernel work of one thread run beside another's Python; more threads
  only hand the GIL back and forth (16 workers were 1.4x slower than 1 on 2 cores). Large
  files go to the walk's copier threads (one per core) on top of that.
- Network (NFS, FUSE, CIFS, Ceph...), or any side whose round trip is slower than
  SLOW_ROUND_TRIP whatever its type: a worker spends most of its time waiting for
  replies, so enough requests must be in flight to keep the process busy (Little's law).
  A new file costs about ROUND_TRIPS_PER_ENTRY round trips on the two sides (lookups,
  create, chown, utime, the close that commits, the source's open) and about
  CPU_PER_ENTRY of the process's time, so 1 + trips x round trip / CPU workers keep it
  busy: about 41 at 1 ms. At least NETWORK_MIN (a network file system that answers fast
  still hides each call's wake-up), at most NETWORK_MAX: measured under 1 ms of latency
  on 2 cores, 32 to 64 workers copy alike and 96 is slower again (threads contending
  for the interpreter), while 16 is 1.5x slower. Mutations on EFS take longer than the
  statfs measures, so the count errs on the high side, where the cost is small.
- A type this module does not know is judged by its round trip alone.

This module only reads the file systems' type and times statfs on descriptors it is
given; it must not open, change or walk anything.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A round trip this slow is a network's, whatever the type says (local statfs: ~1 us).
SLOW_ROUND_TRIP = 100e-6
ROUND_TRIPS_PER_ENTRY = 8
CPU_PER_ENTRY = 200e-6  # seconds of the process's time per entry on a network fs
NETWORK_MIN, NETWORK_MAX = 16, 64
PROBES = 5  # statfs calls per side: the fastest is the round trip (one may be preempted)

# f_type values from linux/magic.h.
LOCAL_TYPES = {
    0xEF53: "ext4",  # also ext2/ext3
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0x01021994: "tmpfs",
    0x858458F6: "ramfs",
    0x794C7630: "overlayfs",
    0xF2F52010: "f2fs",
    0x2FC12FC1: "zfs",
    0x5346544E: "ntfs",
    0x4D44: "vfat",
}
NETWORK_TYPES = {
    0x6969: "nfs",  # EFS is NFS 4.1
    0x65735546: "fuse",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x00C36400: "ceph",
    0x01021997: "9p",
    0x0BD00BD0: "lustre",
    0x47504653: "gpfs",
    0x5346414F: "afs",
}


@dataclass(frozen=True)
class Side:
    """One tree's file system: "local", "network" or "unknown", its name, and the
    fastest statfs round trip seen (seconds)."""

    kind: str
    name: str
    round_trip: float


@dataclass(frozen=True)
class Choice:
    workers: int
    reason: str  # for the report, e.g. "nfs: 1.02 ms per round trip"
    remote: bool = False  # a side behaves like a network file system (slow round trips)


def kind_of(f_type: int | None) -> tuple[str, str]:
    """("local" | "network" | "unknown", a name) for a statfs f_type."""
    if f_type is None:
        return "unknown", "unknown"
    if f_type in LOCAL_TYPES:
        return "local", LOCAL_TYPES[f_type]
    if f_type in NETWORK_TYPES:
        return "network", NETWORK_TYPES[f_type]
    return "unknown", f"type {f_type:#x}"


def network_workers(round_trip: float) -> int:
    """Enough workers to keep the process busy while each waits `round_trip` per call."""
    wanted = 1 + math.ceil(ROUND_TRIPS_PER_ENTRY * round_trip / CPU_PER_ENTRY)
    return max(NETWORK_MIN, min(NETWORK_MAX, wanted))


def choose_workers(sides: Sequence[Side], cores: int) -> Choice:
    """The worker count for a copy between these file systems (the slower side rules)."""
    slowest = max(sides, key=lambda side: (side.kind == "network", side.round_trip))
    described = f"{slowest.name}: {_duration(slowest.round_trip)} per round trip"
    if slowest.kind == "network" or slowest.round_trip >= SLOW_ROUND_TRIP:
        return Choice(network_workers(slowest.round_trip), described, remote=True)
    return Choice(max(1, cores), f"{described}, one worker per core")


def probe(fd: int, clock: Callable[[], float] = time.perf_counter) -> Side:
    """The file system holding the open descriptor `fd`: its kind and round trip."""
    f_type, best = None, math.inf
    for _ in range(PROBES):
        start = clock()
        found = _fstatfs_type(fd)
        best = min(best, clock() - start)
        f_type = found if found is not None else f_type
    kind, name = kind_of(f_type)
    return Side(kind, name, best if f_type is not None else 0.0)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _duration(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def _bind_fstatfs() -> Callable[[int, ctypes.Array[ctypes.c_char]], int] | None:
    # Python has os.statvfs, which leaves out f_type: call the C library's fstatfs.
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).fstatfs
    except (AttributeError, OSError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_char_p)
    function.restype = ctypes.c_int
    return function


_fstatfs = _bind_fstatfs()
_STATFS_SIZE = 256  # struct statfs is 120 bytes on 64-bit Linux; room to spare


def _fstatfs_type(fd: int) -> int | None:
    """f_type of the file system holding `fd`, or None where it cannot be read."""
    if _fstatfs is None:
        return None
    buffer = ctypes.create_string_buffer(_STATFS_SIZE)
    if _fstatfs(fd, buffer) != 0:
        return None
    # f_type comes first, a C long (__fsword_t); the magic numbers fit in 32 bits.
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF
