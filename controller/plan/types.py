"""The vocabulary of a plan: which resource, what differs, what to do about it.

Pure values, no I/O. A Plan is ordered and deterministic: the same desired and
observed state always give the same actions in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.notebooks.migration import NotebookMigration
from controller.observed import ProfileRecord, RemovalHold


class Kind(StrEnum):
    FILE_SYSTEM = "FileSystem"
    # What Studio needs to mount a file system (plan.nfs_access): the NFS security group
    # and its ingress rules, then a mount target in each of the domains' subnets.
    NFS_SECURITY_GROUP = "NfsSecurityGroup"
    MOUNT_TARGET = "MountTarget"
    REPLICATION = "Replication"
    FENCE = "Fence"  # fencing an old active region's copy, and lifting it again
    DIRECTORY = "Directory"
    LIFECYCLE_CONFIG = "LifecycleConfig"
    DOMAIN = "Domain"
    USER_PROFILE = "UserProfile"
    # A profile's old home restored into its new incarnation (plan.recreation).
    HOME_RESTORE = "HomeRestore"
    # Pruning: the apps and spaces of a profile or domain being deleted (plan.prune).
    SPACE = "Space"
    APP = "App"
    NOTEBOOK_INSTANCE = "NotebookInstance"
    SNAPSHOT_POLICY = "SnapshotPolicy"
    RESTORE = "Restore"


# The order in which kinds are acted on: what a later kind refers to exists first.
KIND_ORDER: tuple[Kind, ...] = (Kind.FILE_SYSTEM, Kind.NFS_SECURITY_GROUP, Kind.MOUNT_TARGET,
                                 Kind.REPLICATION, Kind.FENCE,
                                 Kind.DIRECTORY, Kind.LIFECYCLE_CONFIG, Kind.DOMAIN,
                                 Kind.USER_PROFILE, Kind.HOME_RESTORE, Kind.SPACE, Kind.APP,
                                 Kind.SNAPSHOT_POLICY, Kind.RESTORE, Kind.NOTEBOOK_INSTANCE)


# The last step of making a region's copy its own after a failover (promote, or strategy
# copy's attach), and every step on the way (while any is planned, it is not yet).
TAKES_OVER = frozenset({"PromoteReplica", "AttachWorkingCopy"})
TAKING_OVER = TAKES_OVER | {"CreateWorkingCopy", "FillWorkingCopy"}


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, order=True)
class ResourceKey:
    kind: str
    region: str
    # Domain: "research"; UserProfile: "research/alice"; Directory: "studio-efs:/home/x"
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Ref:
    """A value only known once an earlier action has run ("known after apply")."""

    kind: str
    name: str
    attribute: str

    def __str__(self) -> str:
        return "(known after apply)"

    def to_json(self) -> dict[str, str]:
        return {"ref": f"{self.kind}/{self.name}.{self.attribute}"}


@dataclass(frozen=True)
class Difference:
    path: str  # dotted field path, e.g. "UserSettings.CustomPosixUserConfig.Uid"
    desired: Any
    observed: Any


@dataclass(frozen=True)
class Action:
    """One small, named, idempotent step, e.g. CreateUserProfile research/alice."""

    name: str  # CreateDomain, UpdateUserProfile, CreateDirectory, ...
    verb: Verb
    key: ResourceKey
    changes: tuple[Difference, ...] = ()
    # What the executor needs: the AWS request, or the directory's owner and mode.
    params: Mapping[str, Any] = field(default_factory=dict)
    # What earlier actions of the same plan must have done first: it waits (requeued)
    # until each of these was learned in this pass (a profile's new POSIX ids wait for
    # its home to be re-owned).
    after: tuple[Ref, ...] = ()


@dataclass(frozen=True)
class RemovalCheck:
    """The removal guard's verdict on a pass's prune (controller.plan.removal_guard)."""

    keys: frozenset[str]  # every profile and domain the prune would delete
    total: int  # the managed profiles and domains of the region, those included
    limit: float  # safety.maxRemovalPercent / 100
    held: bool  # nothing is deleted this pass
    # What the status store should hold after the pass (None: no held deletion).
    record: RemovalHold | None = None

    @property
    def fraction(self) -> float:
        return len(self.keys) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Plan:
    region: str
    revision: str
    role: str  # "active" or "standby"
    actions: tuple[Action, ...] = ()
    # Things the operator cannot fix on its own (an unresolved reference, a symlink
    # where a directory should be, an immutable field changed); each names the resource.
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # File systems whose share directories were not looked at this pass: not writable yet
    # (a replica being promoted, a working copy taking over, a fence being lifted).
    waiting_file_systems: tuple[str, ...] = ()
    # Resources not planned yet because what they need is not ready ("Domain/research",
    # why), e.g. a domain whose file systems' mount targets are still being made.
    waiting: tuple[tuple[str, str], ...] = ()
    # Actions planned but not taken: on a suspended resource (or estate), or deletions
    # the removal guard holds. Shown, never executed.
    suspended: tuple[Action, ...] = ()
    held: tuple[Action, ...] = ()
    removal: RemovalCheck | None = None
    # What the user table should hold after this pass, for the profiles whose record is
    # new or changed and needs no restore first (plan.recreation).
    records: tuple[ProfileRecord, ...] = ()
    # Notebook migration records to persist before any action runs (each names the
    # step this pass takes: controller.plan.notebook_migration).
    migrations: tuple[NotebookMigration, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def count(self, verb: Verb) -> int:
        return sum(1 for action in self.actions if action.verb is verb)
