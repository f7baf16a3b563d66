"""What the preflight read about a failover's target region, as plain values. Pure.

controller.preflight.read fills a `PreflightFacts` (every read of AWS happens there);
controller.preflight.checks judges it. A fact that could not be read is absent (None)
and `errors` says why, so each check can say "could not check" rather than guess.
No I/O and no boto3 here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from controller.model import DesiredState
from controller.observed import ObservedFileSystem, ObservedNfsAccess, ResolvedReferences

# How long after its expiry a lease still counts as fresh: the holder renews it when half
# of it has gone, so a live controller's lease never expires; this covers clock skew
# between the reader and the holder, and a renewal in flight.
LEASE_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class LeaseFacts:
    """The lease item in the target region's status table (controller.loop.lease)."""

    table_exists: bool
    holder: str | None = None
    expires_at: float | None = None  # None: no lease item


@dataclass(frozen=True)
class RoleFacts:
    """A Studio execution role (a domain's or a profile's), as IAM describes it."""

    reference: str  # as the desired state names it
    arn: str | None  # None: IAM does not know it (or not in this account)
    trusts_sagemaker: bool = False
    named_by: str = ""  # "Domain/research", "UserProfile/research/carol, ..."


@dataclass(frozen=True)
class BucketFacts:
    """A snapshot bucket a SnapshotPolicy names for the target region."""

    policy: str
    bucket: str | None  # None: the policy names no bucket for the region
    reachable: bool = False
    error: str = ""


@dataclass(frozen=True)
class TrailFacts:
    """A CloudTrail trail that covers the target region (its own, or a multi-region one)."""

    name: str
    home_region: str
    logging: bool
    # Records management write calls (what EventBridge's rule on API calls needs); None:
    # its selectors could not be read.
    management_writes: bool | None


@dataclass(frozen=True)
class QuotaLimit:
    """A quota's value, and where it came from (Service Quotas, or AWS's default)."""

    name: str
    code: str
    value: float
    source: str


@dataclass(frozen=True)
class RegionUsage:
    """What the target region already holds, for the quotas a failover uses up."""

    file_systems: int
    # Mount targets of all the region's file systems: an upper bound of any one VPC's.
    mount_targets: int
    domains: tuple[str, ...]


@dataclass(frozen=True)
class PreflightFacts:
    desired: DesiredState  # as committed (the flag not flipped)
    target: str  # the region a flip of the flag would make active
    now: float
    status_table: str
    # The target region seen as the failover would see it once the flag is flipped: its
    # copies found by their placements (id or Name tag), networks, roles, and the active
    # region's copies (remote_file_systems; remote_read says how reading them went).
    references: ResolvedReferences | None = None
    # Logical file system -> the active copy's replica in the target region, found by the
    # id the active copy's replication names (not by Name tag); None: not there.
    replicas: Mapping[str, ObservedFileSystem | None] = field(default_factory=dict)
    nfs: ObservedNfsAccess | None = None
    lease: LeaseFacts | None = None
    roles: Mapping[str, RoleFacts] | None = None
    # None or empty: the estate has no SnapshotPolicy.
    buckets: tuple[BucketFacts, ...] | None = None
    trails: tuple[TrailFacts, ...] | None = None
    limits: Mapping[str, QuotaLimit] | None = None  # by quota code
    usage: RegionUsage | None = None
    # What could not be read, and why: "references", "nfs", "lease", "roles", "buckets",
    # "quotas", "trails".
    errors: Mapping[str, str] = field(default_factory=dict)
    lease_grace_seconds: float = LEASE_GRACE_SECONDS
    # The role ARNs (IAM wildcards allowed) the controller's task role may pass to
    # SageMaker, as its stack grants them (STUDIO_OPERATOR_PASSABLE_ROLES); None: not
    # known here, so whether a role is passable is not checked.
    passable_roles: tuple[str, ...] | None = None

    @property
    def active(self) -> str:
        return self.desired.estate.active_region

    @property
    def flipped(self) -> DesiredState:
        """The desired state as it would be with the flag pointing at the target."""
        return flipped(self.desired, self.target)


def flipped(desired: DesiredState, target: str) -> DesiredState:
    return replace(desired, estate=replace(desired.estate, active_region=target),
                   revision=f"{desired.revision}-preflight")
