"""Who owns what a restore writes: keep, remap by a table, or give all to the target. Pure.

The write-ups restore a volume onto a platform with other POSIX ids (uid 500 becomes
1000); restoring one profile's files into another profile's home gives everything to
that profile. Set-id bits survive only when the file ends up with the owner the archive
names after remapping: a setuid file given to someone else would run as them.
This module must not touch the file system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

KEEP, MAP, TARGET = "keep", "map", "target"
SET_ID_BITS = 0o6000


@dataclass(frozen=True)
class OwnerPolicy:
    mode: str = KEEP
    uid_map: Mapping[int, int] = field(default_factory=dict)
    gid_map: Mapping[int, int] = field(default_factory=dict)
    target: tuple[int, int] | None = None  # (uid, gid) for mode "target"

    def __post_init__(self) -> None:
        if self.mode not in (KEEP, MAP, TARGET):
            raise ValueError(f"unknown owner mode {self.mode!r}")
        if self.mode == TARGET and self.target is None:
            raise ValueError("owners 'target' needs the target's uid and gid")

    def uid(self, uid: int) -> int:
        if self.mode == TARGET:
            assert self.target is not None
            return self.target[0]
        return self.uid_map.get(uid, uid) if self.mode == MAP else uid

    def gid(self, gid: int) -> int:
        if self.mode == TARGET:
            assert self.target is not None
            return self.target[1]
        return self.gid_map.get(gid, gid) if self.mode == MAP else gid

    def mapped_uid(self, uid: int) -> int:
        """What a uid named inside the archive (an ACL entry) becomes: only a table maps
        it; giving everything to the target concerns owners, not ACL entries."""
        return self.uid_map.get(uid, uid) if self.mode == MAP else uid

    def mapped_gid(self, gid: int) -> int:
        return self.gid_map.get(gid, gid) if self.mode == MAP else gid

    def mode_bits(self, mode: int, archive_owner: tuple[int, int],
                  final_owner: tuple[int, int] | None) -> int:
        """`mode` without set-id bits unless the file keeps the owner the archive names
        (after the table); `final_owner` None: owners could not be set (not root)."""
        named = (self.mapped_uid(archive_owner[0]), self.mapped_gid(archive_owner[1]))
        if final_owner is None or final_owner != named:
            return mode & ~SET_ID_BITS
        return mode


def parse_id_map(pairs: list[str] | Mapping[str, int]) -> dict[int, int]:
    """{"500": 1000} or ["500:1000"] -> {500: 1000}; ValueError with a readable reason."""
    items = pairs.items() if isinstance(pairs, Mapping) else (
        tuple(p.split(":", 1)) if ":" in p else (p, "") for p in pairs)
    result: dict[int, int] = {}
    for old, new in items:
        try:
            source, target = int(str(old)), int(str(new))
        except ValueError:
            raise ValueError(f"{old}:{new} is not a pair of numeric ids (like 500:1000)") from None
        if source < 0 or target < 0 or target > 0xFFFFFFFE:
            raise ValueError(f"{old}:{new}: ids must be 0..4294967294")
        result[source] = target
    return result
