"""The desired state, as typed values.

These frozen dataclasses are what the rest of the controller reasons about once a
revision of desired_state/ has been loaded and validated (controller.desired). They
carry meaning, not YAML: octal modes are ints, POSIX ids are a pair, references are
names. This module must not do I/O and must not import boto3.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from controller.notebooks.spec import NotebookInstanceSpec
from controller.snapshots.spec import RestoreSpec, SnapshotPolicySpec

API_VERSION = "studio-operator.io/v1alpha1"
MANAGED_TAG = "studio-operator.io/managed-by"
MANAGED_TAG_VALUE = "studio-operator"


class Mode(StrEnum):
    ACTIVE_PASSIVE = "active-passive"
    ACTIVE_ACTIVE = "active-active"


class FailoverStrategy(StrEnum):
    PROMOTE = "promote"
    COPY = "copy"


class ShareScope(StrEnum):
    USER = "user"
    DOMAIN = "domain"
    ORGANISATION = "organisation"


@dataclass(frozen=True, order=True)
class Posix:
    uid: int
    gid: int


ROOT = Posix(0, 0)
# In a space-backup share, next to the profiles' folders: where shared spaces back up.
# "_" cannot start a SageMaker name, so it never clashes with a profile's folder.
SHARED_SPACES_FOLDER = "_shared-spaces"


@dataclass(frozen=True)
class SourceLocation:
    """Where a document (or one of its fields) was written, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SafetyLimits:
    # A revision whose prune would delete more than this share of the managed profiles
    # and domains is held (nothing deleted) until confirmed (controller.plan.prune).
    max_removal_fraction: float = 0.1
    # The revision whose held deletion the desired state confirms (a prefix of it will
    # do, as with git's short ids); None: nothing confirmed.
    confirm_removal: str | None = None


@dataclass(frozen=True)
class EstateSpec:
    name: str
    primary_region: str
    replica_region: str
    active_region: str
    mode: Mode = Mode.ACTIVE_PASSIVE
    failover_strategy: FailoverStrategy = FailoverStrategy.PROMOTE
    safety: SafetyLimits = SafetyLimits()
    # The old active region fences itself without waiting for the new one to record its
    # takeover (controller.plan.takeover): for when that region's controller cannot.
    fence_without_takeover: bool = False
    # Delete what the operator manages and the desired state no longer holds (profiles,
    # their spaces and apps, domains); off: such resources are only reported.
    prune: bool = False
    # Observe and report, change nothing anywhere in the estate.
    suspend: bool = False
    # How long the history of restores, failovers, prunes, ... is kept.
    history_retention_days: int = 365

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.replica_region)

    def standby_region(self) -> str:
        return self.replica_region if self.active_region == self.primary_region else (
            self.primary_region
        )


@dataclass(frozen=True)
class FileSystemCreateSettings:
    performance_mode: str = "generalPurpose"
    throughput_mode: str = "elastic"
    encrypted: bool = True


@dataclass(frozen=True)
class FileSystemPlacement:
    """How one region's copy of a logical file system is found or made.

    Exactly one of file_system_id (adopt by id) or name_tag (adopt by its Name tag,
    or create with that tag when `create` is set) is given.
    """

    file_system_id: str | None = None
    name_tag: str | None = None
    create: FileSystemCreateSettings | None = None

    @property
    def reference(self) -> str:
        return self.file_system_id or f"Name={self.name_tag}"


@dataclass(frozen=True)
class FileSystemSpec:
    name: str
    placements: Mapping[str, FileSystemPlacement]
    replicate: bool = False
    # Above EFS's own objective (RPO of 15 minutes for most file systems), which an
    # alarm at 15 minutes would flap on.
    replication_lag_threshold_seconds: int = 1800
    # active-active: the standby region's working copy is refreshed from the replica
    # this often.
    refresh_minutes: int = 60
    # Observe and report, change nothing about it (controller.plan.suspend).
    suspend: bool = False

    def placement_in(self, region: str) -> FileSystemPlacement | None:
        """How the file system is found in `region`. A replicated file system with no
        placement there is the replica: found by the same Name tag as its source."""
        placement = self.placements.get(region)
        if placement is not None or not self.replicate:
            return placement
        for other in sorted(self.placements):
            tag = self.placements[other].name_tag
            if tag:
                return FileSystemPlacement(name_tag=tag)
        return None


@dataclass(frozen=True)
class ShareSpec:
    name: str
    file_system: str
    scope: ShareScope
    # An absolute path inside the file system; may contain {domain} and {profile}.
    path: str
    mode: int = 0o700
    # None: the profile's POSIX ids for user shares, the domain default otherwise.
    owner: Posix | None = None
    suspend: bool = False

    def render(self, domain: str, profile: str | None = None) -> str:
        rendered = self.path.replace("{domain}", domain)
        if profile is not None:
            rendered = rendered.replace("{profile}", profile)
        return rendered


@dataclass(frozen=True)
class NetworkSpec:
    """A region's network for a domain; each value is an id or a Name tag to resolve."""

    vpc: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...] = ()
    # The security group on the file systems' mount targets that lets NFS in from the
    # security groups above; None: the operator makes one per VPC (see plan.nfs_access).
    nfs_security_group: str | None = None


@dataclass(frozen=True)
class SpaceBackupSpec:
    enabled: bool = False
    share: str | None = None


@dataclass(frozen=True)
class DomainSpec:
    name: str
    execution_role: str
    networks: Mapping[str, NetworkSpec]
    auth_mode: str = "IAM"
    default_posix: Posix = Posix(200001, 1001)
    # Names of shares: domain and organisation scope ones attach to the domain's
    # defaults; user scope ones give every profile of the domain its own directory.
    shares: tuple[str, ...] = ()
    apps: tuple[str, ...] = ("JupyterLab", "CodeEditor")
    space_backup: SpaceBackupSpec = SpaceBackupSpec()
    # Suspends the domain and every profile in it.
    suspend: bool = False


@dataclass(frozen=True)
class SingleSignOnSpec:
    """The IAM Identity Center user of a profile in an SSO domain (set at creation only)."""

    user_value: str
    user_identifier: str = "UserName"


@dataclass(frozen=True)
class ProfileSettings:
    """What large estates set per user, each within what SageMaker allows (the schemas
    hold the limits: botocore's UserSettings shapes). None: not managed, whatever AWS
    holds stays."""

    # An IAM role name (resolved in each region's account) or a role ARN.
    execution_role: str | None = None
    # The default instance type of the profile's JupyterLab and Code Editor apps.
    instance_type: str | None = None
    # Idle shutdown of those apps, in minutes (60 to 525600).
    idle_shutdown_minutes: int | None = None
    # Tags the profile carries (key, value), sorted; added, never removed.
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def app_settings(self) -> bool:
        return self.instance_type is not None or self.idle_shutdown_minutes is not None


@dataclass(frozen=True)
class UserProfileSpec:
    name: str
    domain: str
    posix: Posix
    # Extra user scope shares beyond the domain's.
    shares: tuple[str, ...] = ()
    # Required in an SSO domain, absent in an IAM one (controller.desired checks it).
    sso: SingleSignOnSpec | None = None
    settings: ProfileSettings = ProfileSettings()
    suspend: bool = False
    # When the profile (or its domain) is recreated behind the operator's back, restore
    # its old home into the new one (controller.plan.recreation). Kept in the desired
    # state, so the choice survives the recreation.
    restore_on_recreate: bool = True

    @property
    def qualified_name(self) -> str:
        return f"{self.domain}/{self.name}"


@dataclass(frozen=True)
class ShareDirectory:
    """One directory a share needs on its file system, with its owner and mode."""

    file_system: str  # logical FileSystem name
    path: str  # absolute, inside the file system
    owner: Posix
    mode: int
    share: str
    # "domain/profile" when the owner is that profile's POSIX ids: a change of those ids
    # re-owns what is inside (a home, a profile's backup folder). None otherwise.
    profile: str | None = None

    @property
    def key_name(self) -> str:
        return f"{self.file_system}:{self.path}"


@dataclass(frozen=True)
class DesiredState:
    """One validated revision of the whole estate."""

    revision: str
    estate: EstateSpec
    file_systems: Mapping[str, FileSystemSpec] = field(default_factory=dict)
    shares: Mapping[str, ShareSpec] = field(default_factory=dict)
    domains: Mapping[str, DomainSpec] = field(default_factory=dict)
    # Keyed by "domain/profile".
    profiles: Mapping[str, UserProfileSpec] = field(default_factory=dict)
    notebooks: Mapping[str, NotebookInstanceSpec] = field(default_factory=dict)
    snapshot_policies: Mapping[str, SnapshotPolicySpec] = field(default_factory=dict)
    restores: Mapping[str, RestoreSpec] = field(default_factory=dict)
    # Where each resource was declared, keyed "Kind/name" ("UserProfile/domain/profile"),
    # for messages that point back at the YAML. Not part of what is desired, so not
    # compared.
    sources: Mapping[str, SourceLocation] = field(default_factory=dict, compare=False)

    def source_of(self, kind: str, name: str) -> SourceLocation | None:
        return self.sources.get(f"{kind}/{name}")

    def notebooks_in(self, region: str) -> list[NotebookInstanceSpec]:
        """The notebook instances that live in `region`, by name."""
        primary = self.estate.primary_region
        return [self.notebooks[name] for name in sorted(self.notebooks)
                if self.notebooks[name].region_in(primary) == region]

    def profiles_of(self, domain: str) -> Iterator[UserProfileSpec]:
        for key in sorted(self.profiles):
            profile = self.profiles[key]
            if profile.domain == domain:
                yield profile

    def user_shares_of(self, profile: UserProfileSpec) -> tuple[ShareSpec, ...]:
        """User scope shares a profile gets: its domain's, then its own, no repeats."""
        names: list[str] = []
        for name in (*self.domains[profile.domain].shares, *profile.shares):
            if self.shares[name].scope is ShareScope.USER and name not in names:
                names.append(name)
        return tuple(self.shares[name] for name in names)

    def space_backup_share(self, domain: str) -> ShareSpec | None:
        """The share a domain's spaces back their homes up to, when space backup is on."""
        backup = self.domains[domain].space_backup
        if not backup.enabled or backup.share is None:
            return None
        return self.shares[backup.share]

    def domain_shares_of(self, domain: str) -> tuple[ShareSpec, ...]:
        """Domain and organisation scope shares attached to a domain's defaults."""
        return tuple(
            self.shares[name]
            for name in self.domains[domain].shares
            if self.shares[name].scope is not ShareScope.USER
        )

    def share_directories(self) -> list[ShareDirectory]:
        """Every share directory the estate needs, once each, in a stable order.

        Domain and organisation shares default to the domain's POSIX ids (for an
        organisation share used by several domains, the first domain by name decides,
        so the result never depends on document order); user shares to the profile's.
        A space-backup share's root is root's (no space's user may rename what is in
        it); in it each profile gets a folder of its own, and shared spaces one owned by
        the domain's default ids, all made by the operator so no user claims one first.
        """
        wanted: dict[tuple[str, str], ShareDirectory] = {}

        def add(share: ShareSpec, path: str, owner: Posix, profile: str | None = None,
                mode: int | None = None) -> None:
            wanted.setdefault((share.file_system, path), ShareDirectory(
                share.file_system, path, owner, share.mode if mode is None else mode,
                share.name, profile))

        for domain_name in sorted(self.domains):
            domain = self.domains[domain_name]
            backup = self.space_backup_share(domain_name)
            if backup is not None:
                root = backup.render(domain_name)
                add(backup, root, ROOT)
                add(backup, f"{root}/{SHARED_SPACES_FOLDER}", domain.default_posix,
                    mode=0o700)
            for share in self.domain_shares_of(domain_name):
                add(share, share.render(domain_name), share.owner or domain.default_posix)
            for profile in self.profiles_of(domain_name):
                for share in self.user_shares_of(profile):
                    add(share, share.render(domain_name, profile.name),
                        share.owner or profile.posix,
                        None if share.owner else profile.qualified_name)
                if backup is not None:
                    add(backup, f"{backup.render(domain_name)}/{profile.name}", profile.posix,
                        profile.qualified_name, 0o700)
        return [wanted[key] for key in sorted(wanted)]
