"""What one region really holds, as one snapshot per pass.

Readers in controller.observe fill these frozen values from AWS describe/list calls and
from the mounted file systems; controller.plan compares them with the desired state.
Values from AWS are kept as the API returned them (plain dicts), so the diff can look at
exactly the fields the desired state sets. No I/O and no boto3 here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.notebooks.observed import NotebookObservation
from controller.snapshots.observed import ObservedSnapshots


@dataclass(frozen=True)
class ObservedReplication:
    """An EFS replication configuration this region's file system takes part in."""

    source_file_system_id: str
    source_region: str
    destination_file_system_id: str
    destination_region: str
    status: str  # ENABLING | ENABLED | PAUSED | ERROR | DELETING
    last_replicated: datetime | None = None


@dataclass(frozen=True)
class ObservedFileSystem:
    file_system_id: str
    lifecycle_state: str
    name_tag: str | None = None
    # ENABLED | DISABLED | REPLICATING (EFS FileSystemProtection)
    replication_overwrite_protection: str | None = None
    replication: ObservedReplication | None = None
    # When its file system policy fences it (NFS writes denied), the time it was fenced
    # (controller.fencing); None when it is not fenced or the policy was not read.
    fenced_at: str | None = None

    def is_replica(self) -> bool:
        """True while it is the read-only destination of a replication."""
        return (self.replication is not None
                and self.replication.destination_file_system_id == self.file_system_id)


@dataclass(frozen=True)
class ObservedWorkingCopy:
    """A writable copy of a region's replica, made by the copy engine (controller.fencing)."""

    file_system_id: str
    lifecycle_state: str
    copied_at: float | None = None  # when the last complete copy began; None: never
    attached: bool = False  # it has taken over from the replica (strategy copy)


@dataclass(frozen=True)
class ObservedDomain:
    domain_id: str
    name: str
    status: str
    description: Mapping[str, Any]  # describe_domain's response, minus ResponseMetadata


@dataclass(frozen=True)
class ObservedProfile:
    domain_id: str
    name: str
    status: str
    last_modified: float | None  # AWS's LastModifiedTime, epoch seconds
    description: Mapping[str, Any]  # describe_user_profile's response
    # False: the description holds only the fields the operator manages (what it sent, or
    # recorded in its status store), not a describe's answer (controller.observe.cache).
    described: bool = True
    # The profile's tags (ListTags), read only for profiles the desired state tags.
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ObservedApp:
    """A Studio app that is running (or starting) in a domain: fencing stops it."""

    domain: str  # the domain's name in the desired state
    domain_id: str
    app_type: str
    app_name: str
    user_profile: str | None = None
    space: str | None = None
    status: str = "InService"


@dataclass(frozen=True)
class HomeCensus:
    """Who owns what is inside a directory whose profile's POSIX ids are changing.

    Counted (controller.fs.reown, without changing anything) only while SageMaker still
    holds other ids for the profile than the desired state: an idle pass walks no home.
    """

    previous_uid: int  # the ids SageMaker holds for the profile (CustomPosixUserConfig)
    previous_gid: int
    to_reown: int  # entries owned by the previous uid
    current: int  # entries owned by the new uid already
    others: int  # entries owned by anyone else (left as they are)
    linked: int  # files of the previous uid with links from outside (left)
    skipped: int = 0  # changed while being counted
    examples: tuple[str, ...] = ()  # some of the others, "'path' (uid:gid)"


@dataclass(frozen=True)
class ObservedDirectory:
    """A share directory on a mounted file system, seen without following links.

    `kind` is "directory", "missing", "symlink" (a link planted where the directory
    should be, or on the way to it: never followed) or "other" (a file, a socket...).
    `blocked_at` names the path component that is not a plain directory. `empty` is
    looked at only for a directory whose owner is not the one desired, `census` only
    while its profile's ids are changing (None otherwise).
    """

    kind: str
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    blocked_at: str | None = None
    empty: bool | None = None
    census: HomeCensus | None = None


@dataclass(frozen=True)
class AmbiguousName:
    """A Name tag the desired state looks something up by, carried by several resources.

    Tags are not unique in AWS: the reference stays unresolved (never a silent pick) and
    the plan reports the ids, so that a person decides which one is meant.
    """

    kind: str  # "file system", "VPC", "subnet", "security group"
    name: str
    region: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class ObservedTakeover:
    """What the region the flag points at has recorded about itself (its failover record,
    read across regions from its status table), for the old region's fencing decision."""

    region: str
    active_region: str | None = None  # None: no record, or it could not be read
    phase: str = ""
    # The revision that region's controller last acted on as the active region.
    acting_revision: str = ""
    error: str | None = None  # why it could not be read


@dataclass(frozen=True)
class ObservedMountTarget:
    """One EFS mount target (DescribeMountTargets, with its security groups)."""

    mount_target_id: str
    subnet_id: str
    availability_zone: str
    vpc_id: str
    lifecycle_state: str  # creating | available | updating | deleting | deleted | error
    security_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedNfsAccess:
    """What Studio needs to mount the region's file systems, as the region holds it."""

    # File system id -> its mount targets (only the file systems domains here use).
    mount_targets: Mapping[str, tuple[ObservedMountTarget, ...]] = field(default_factory=dict)
    # Subnet id -> (VPC id, availability zone), for the domains' subnets.
    subnets: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # Security group id -> the groups it lets in on NFS (TCP 2049), for the NFS groups.
    nfs_sources: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # VPC id -> the NFS security group the operator made there (found by its name).
    operator_groups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedReferences:
    """Names from the desired state mapped to AWS ids; None when nothing matched."""

    vpcs: Mapping[str, str | None] = field(default_factory=dict)
    # Subnets and security groups are named within a VPC: keyed (vpc reference, name).
    subnets: Mapping[tuple[str, str], str | None] = field(default_factory=dict)
    security_groups: Mapping[tuple[str, str], str | None] = field(default_factory=dict)
    roles: Mapping[str, str | None] = field(default_factory=dict)
    # Logical FileSystem name -> what this region holds for it.
    file_systems: Mapping[str, ObservedFileSystem | None] = field(default_factory=dict)
    # Replicated file systems only: what the other region holds (None: nothing there).
    # A name missing here means the other region could not be read this pass.
    remote_file_systems: Mapping[str, ObservedFileSystem | None] = field(default_factory=dict)
    # Replicated file systems with a working copy in this region (see ObservedWorkingCopy).
    # Once one is attached, `file_systems` names it, and the replica it took over from,
    # kept as it was, is in `superseded`.
    working_copies: Mapping[str, ObservedWorkingCopy] = field(default_factory=dict)
    superseded: Mapping[str, ObservedFileSystem] = field(default_factory=dict)
    # Name tags that more than one resource carries (see AmbiguousName).
    ambiguous: tuple[AmbiguousName, ...] = ()
    # How reading the other region went: "ok", "unreachable" (connection errors,
    # timeouts, 5xx), "refused" (any other error), or "" when it was not read.
    remote_read: str = ""


@dataclass(frozen=True)
class ObservedSpace:
    """A Studio space: a user's private one (owner set) or a shared one of its domain."""

    domain_id: str
    name: str
    status: str
    owner: str | None = None


@dataclass(frozen=True)
class RemovedProfile:
    """A user profile the desired state no longer holds, in a domain of the region."""

    domain: str  # the domain's name
    domain_id: str
    name: str
    status: str
    # The operator made or held it (its status record, or its managed-by tag): only such
    # a profile may be pruned. A profile someone else made is reported, never deleted.
    managed: bool
    home_uid: str | None = None  # HomeEfsFileSystemUid, when described

    @property
    def qualified_name(self) -> str:
        return f"{self.domain}/{self.name}"


@dataclass(frozen=True)
class RemovedDomain:
    name: str
    domain_id: str
    status: str
    managed: bool


@dataclass(frozen=True)
class ObservedRemovals:
    """What the desired state no longer holds in the region (controller.observe.removals):
    the profiles and domains, and, where one is to be pruned, the spaces and apps in
    its way. Apps and spaces are listed only for domains with something to prune."""

    profiles: Mapping[str, RemovedProfile] = field(default_factory=dict)  # "domain/name"
    domains: Mapping[str, RemovedDomain] = field(default_factory=dict)
    # Domain id -> its spaces and its apps that are not Deleted (Failed ones included:
    # they keep a domain from being deleted).
    spaces: Mapping[str, tuple[ObservedSpace, ...]] = field(default_factory=dict)
    apps: Mapping[str, tuple[ObservedApp, ...]] = field(default_factory=dict)
    # Domain name -> its profiles that the operator does not manage (they keep a domain
    # from being pruned: the operator deletes only what it manages).
    foreign_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileRecord:
    """Where one profile's files live, as the operator last saw it InService: the
    write-ups' user table, kept in the status store (controller.status.user_table).

    An incarnation of a profile is its domain id, its CreationTime and its
    HomeEfsFileSystemUid: a profile or domain deleted and made again under the same name
    keeps the name and changes these (controller.plan.recreation).
    """

    domain: str
    name: str
    domain_id: str
    created: str  # the profile's CreationTime, ISO 8601
    home_efs_id: str = ""  # the domain's own EFS (HomeEfsFileSystemId)
    home_uid: str = ""  # the profile's HomeEfsFileSystemUid: its folder there
    uid: int = 0  # its POSIX ids (CustomPosixUserConfig)
    gid: int = 0
    # Its user share directories: (logical file system, file system id, path).
    custom_paths: tuple[tuple[str, str, str], ...] = ()
    # The incarnation ("domain id/created") whose home was restored into this one, or
    # "declined" (restoreOnRecreate false) or "gone" (the old home no longer existed).
    recreated_from: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.domain}/{self.name}"

    @property
    def incarnation(self) -> str:
        return f"{self.domain_id}/{self.created}/{self.home_uid}"


@dataclass(frozen=True)
class RemovalHold:
    """A deletion held by the removal guard (safety.maxRemovalPercent), as recorded in
    the status store: the revision that asked for it and what it would delete."""

    revision: str
    keys: frozenset[str]
    held_at: float = 0.0


@dataclass(frozen=True)
class ObservedState:
    region: str
    references: ResolvedReferences
    domains: Mapping[str, ObservedDomain] = field(default_factory=dict)
    # Keyed "domain/profile", as DesiredState.profiles.
    profiles: Mapping[str, ObservedProfile] = field(default_factory=dict)
    # Keyed (file system logical name, absolute path inside it).
    directories: Mapping[tuple[str, str], ObservedDirectory] = field(default_factory=dict)
    # False when no mount root was given: directories were not looked at.
    directories_observed: bool = True
    # False when the controller does not run as root (a developer's laptop in local
    # mode): it cannot give directories to their users, so owners are not compared.
    can_set_owners: bool = True
    # The Studio lifecycle configs the region holds, name -> ARN as AWS gives it
    # (None: not looked at).
    lifecycle_configs: Mapping[str, str] | None = None
    # Fencing and failback (a region that is no longer active; see controller.fencing).
    running_apps: tuple[ObservedApp, ...] = ()
    # Logical file system -> "saved" (this fence's recovery folder is complete on the
    # active copy), "pending" (not yet) or "unmounted" (the active copy is not mounted).
    recoveries: Mapping[str, str] = field(default_factory=dict)
    # Logical file system -> EFS lost+found folders at the root of this region's copy.
    lost_and_found: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # When the snapshot was taken (epoch seconds): schedules (working copy refresh).
    observed_at: float = 0.0
    # Regions classified unreachable by the loop (controller.loop.reachability): a
    # replica whose source is in one is promoted with LOCAL_CONFIGURATION_ONLY.
    unreachable_regions: frozenset[str] = frozenset()
    # The standby's read of the active region's failover record (None: not read).
    takeover: ObservedTakeover | None = None
    # Active region: the running apps (InService, Pending, Deleting) of each desired domain
    # whose network must change, keyed by domain name; other domains are not looked at.
    running_apps_by_domain: Mapping[str, tuple[ObservedApp, ...]] = field(
        default_factory=dict)
    # Profiles in the region's desired domains that the desired state does not name
    # ("domain/profile"): reported, never changed.
    unmanaged_profiles: tuple[str, ...] = ()
    # Mount targets and NFS security groups (None: not looked at this pass).
    nfs: ObservedNfsAccess | None = None
    # Fencing: logical file system -> clients EFS reports connected to this region's old
    # copy (ClientConnections); None when the metric could not be read.
    client_connections: Mapping[str, int | None] = field(default_factory=dict)
    # What the desired state no longer holds (None: not looked at).
    removals: ObservedRemovals | None = None
    # Keys ("UserProfile/research/alice", "Domain/research", "Directory/...") the status
    # store holds for this region: what the operator managed under earlier revisions
    # (None: no status store, as in `studioctl plan`).
    managed_keys: frozenset[str] | None = None
    # The removal guard's record, and the final snapshots of profiles being pruned
    # ("domain/profile" -> phase: Running, Complete, Failed), from the status store.
    removal_hold: RemovalHold | None = None
    final_snapshots: Mapping[str, str] = field(default_factory=dict)
    # The user table: "domain/profile" -> where its files live (from the status store).
    profile_records: Mapping[str, ProfileRecord] = field(default_factory=dict)
    # Profiles AWS holds in another incarnation than their record: is the old home still
    # there? "present", "missing", or "unmounted" (its file system not under --efs-root).
    recreated_homes: Mapping[str, str] = field(default_factory=dict)
    # NotebookInstance name -> what the region holds for it (only this region's notebooks;
    # a name missing here was not looked at).
    notebooks: Mapping[str, NotebookObservation] = field(default_factory=dict)
    # Snapshot policies and restores (None: not looked at, e.g. `studioctl plan`).
    snapshots: ObservedSnapshots | None = None
