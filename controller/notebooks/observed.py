"""What a region holds for one NotebookInstance document, as the observer read it. Pure.

The instance itself (as DescribeNotebookInstance and ListTags gave it, or None when there
is none), and the desired state's references resolved in the region: the role's ARN,
the subnet's and security groups' ids (None where nothing matched).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.notebooks.migration import NotebookMigration

# Statuses in which AWS is still moving the instance: nothing can be asked of it but to wait.
BUSY = ("Pending", "Stopping", "Updating", "Deleting")


@dataclass(frozen=True)
class ObservedNotebookInstance:
    name: str
    status: str
    description: Mapping[str, Any]  # DescribeNotebookInstance's answer
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return str(self.description.get("NotebookInstanceArn", ""))

    @property
    def busy(self) -> bool:
        return self.status in BUSY


@dataclass(frozen=True)
class NotebookSnapshot:
    """A complete snapshot of the notebook's volume (its COMPLETE marker is in S3)."""

    id: str  # <policy>/notebook/<name>/<stamp>
    instance: str  # the instance that made it
    created: float  # its stamp, epoch seconds (whole seconds)


@dataclass(frozen=True)
class NotebookObservation:
    instance: ObservedNotebookInstance | None
    role_arn: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str | None, ...] = ()
    # Reference -> why it did not resolve ("no subnet with Name tag x in vpc-...").
    unresolved: tuple[str, ...] = ()
    # The backup lifecycle config the spec asks for exists (False: none asked, or absent).
    backup_config_present: bool = False
    # The seal config exists (read only while a migration with deleteOld is under way).
    seal_config_present: bool = False
    # Its migration's record (None: never migrated), the new instance it makes, the
    # complete snapshots made since the old instance's recorded stop, and the instances
    # whose restore of the record's snapshot is done (restored/<instance> is in S3).
    migration: NotebookMigration | None = None
    new_instance: ObservedNotebookInstance | None = None
    snapshots: tuple[NotebookSnapshot, ...] = ()
    restored: frozenset[str] = frozenset()
    # Why the snapshots could not be listed ("" when they were, or were not needed).
    snapshots_unreadable: str = ""
