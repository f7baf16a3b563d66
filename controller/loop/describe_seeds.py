"""What lets a restarted controller skip describes: each profile's LastModifiedTime and
the description the describe cache (controller.observe.cache) held for it, kept in the
status store, and seeded back into the cache when a controller starts.

One record per profile ("seen#<region>#<domain id>#<profile>"), written after a full pass
for the profiles whose remembered description is new or was fetched again since the last
write (a quiet pass writes nothing), and deleted once the profile is no longer listed. A
seeded description stands for a describe only while the listing shows the same
LastModifiedTime (AWS moves it on every change), so a profile changed while no controller
ran is described again; it is partial, so an update planned from it describes first; and
it keeps the age it had, so the cache's full refresh still comes on time.

Records are never read back through the store's in-memory copy (they would double the
cache's memory); this module keeps only each record's time stamps. It never changes AWS.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from controller.clock import Clock
from controller.observe.cache import DescribeCache
from controller.observe.sagemaker import profile_key
from controller.observed import ObservedState
from controller.status.store import DynamoStatusStore

PREFIX = "seen#"


class DescribeSeeds:
    def __init__(self, store: DynamoStatusStore, region: str, cache: DescribeCache,
                 clock: Clock) -> None:
        self.store = store
        self.region = region
        self.cache = cache
        self.clock = clock
        # pk -> (LastModifiedTime, fetched at on clock.monotonic()) of what the table holds.
        self._written: dict[str, tuple[float, float]] = {}

    def load(self) -> int:
        """Seed the cache from the table (one filtered scan); returns how many."""
        now = self.clock.now()
        for item in self.store.scan_prefix(f"{PREFIX}{self.region}#"):
            key = profile_key(self.region, str(item["domainId"]), str(item["name"]))
            try:
                description = json.loads(str(item["description"]),
                                         object_pairs_hook=_interned_object)
                last_modified = float(item["lastModified"])
                age = now - float(item["fetchedAt"])
            except (KeyError, ValueError):
                continue  # unreadable: that profile is described, and its record rewritten
            self.cache.seed(key, last_modified, description, age)
            found = self.cache.bound(key)
            if found is not None:
                self._written[str(item["pk"])] = (found[0], found[1])
        return len(self._written)

    def after_pass(self, observed: ObservedState) -> int:
        """Write what a full pass newly remembered, delete what it no longer lists;
        returns how many records were written or deleted."""
        # What to write, as references: each record (its description as JSON) is made
        # only as its batch is sent, not 5,000 at once.
        pending: list[tuple[str, str, str, tuple[float, float, dict[str, Any]]]] = []
        listed: set[str] = set()
        now, monotonic = self.clock.now(), self.clock.monotonic()
        for profile in observed.profiles.values():
            pk = f"{PREFIX}{self.region}#{profile.domain_id}#{profile.name}"
            listed.add(pk)
            found = self.cache.bound(profile_key(self.region, profile.domain_id,
                                                 profile.name))
            if found is None or self._written.get(pk) == (found[0], found[1]):
                continue
            pending.append((pk, profile.domain_id, profile.name, found))
        puts = ({"pk": pk, "domainId": domain_id, "name": name,
                 "lastModified": repr(last_modified),
                 "fetchedAt": repr(round(now - (monotonic - fetched_at), 3)),
                 "description": json.dumps(description, default=str,
                                           separators=(",", ":"), sort_keys=True)}
                for pk, domain_id, name, (last_modified, fetched_at, description) in pending)
        gone = [pk for pk in self._written if pk not in listed]
        if pending or gone:
            self.store.write_uncached(puts, gone)  # failing: tried again after the next pass
        self._written.update({pk: (found[0], found[1]) for pk, _, _, found in pending})
        for pk in gone:
            del self._written[pk]
        return len(pending) + len(gone)


def _interned_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A seeded description's object with its keys and text interned: 5,000 of them
    repeat the same keys and mostly the same values (domain id, file system id)."""
    return {sys.intern(key): sys.intern(value) if isinstance(value, str) else value
            for key, value in pairs}
