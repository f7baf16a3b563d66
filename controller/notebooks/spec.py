"""The NotebookInstance kind as typed values, and the notebook platforms' facts. Pure.

A NotebookInstance names one SageMaker notebook instance in one region. Its settings fall
in three groups, as AWS treats them:
- changed in place while the instance is Stopped (UpdateNotebookInstance): instance type,
  execution role, a larger volume, root access, the lifecycle configuration;
- changed on the instance in any state: tags;
- set only at creation: the platform (the operator's choice: moving between Amazon
  Linux generations changes the volume's owner ids), the subnet, the security groups,
  direct internet access, and a smaller volume. Changing one of these in git is a
  migration to a new instance with the data (controller.plan.notebooks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PLATFORM = "notebook-al2023-v1"  # what CreateNotebookInstance defaults to
PLATFORMS = ("notebook-al1-v1", "notebook-al2-v1", "notebook-al2-v2", "notebook-al2-v3",
             "notebook-al2023-v1", "notebook-al2023-v2")
# Tags the operator keeps on every notebook instance it manages.
NOTEBOOK_TAG = "studio-operator.io/notebook"  # the NotebookInstance's metadata.name
# Set before the operator stops a running instance to update it, removed once it has
# started it again: "start back only if it was running" survives a restart of the
# controller, since it lives on the instance itself.
RESTART_TAG = "studio-operator.io/restart-after-update"

# ec2-user, who owns the volume (/home/ec2-user/SageMaker), per platform generation.
EC2_USER = {"al1": (500, 500), "al2": (1000, 1000), "al2023": (1000, 1000)}


def generation(platform: str) -> str:
    """notebook-al2-v3 -> "al2"."""
    return platform.removeprefix("notebook-").rsplit("-", 1)[0]


@dataclass(frozen=True)
class NotebookNetworkSpec:
    """A VPC placement; each value an id or a Name tag (security groups: or a group name)."""

    vpc: str
    subnet: str
    security_groups: tuple[str, ...] = ()
    direct_internet_access: bool = True


@dataclass(frozen=True)
class NotebookMigrationSpec:
    """How a change AWS can only make at creation is carried out.

    The new instance gets `instance_name`, or, by default, the NotebookInstance's name
    with the next generation number ("research-nb-2", then "-3", ...): never the old
    instance's own name, since that would need the old instance deleted before the new
    one has restored its data. The old instance is stopped once the new one has
    restored, and deleted only when `delete_old` says so.
    """

    instance_name: str | None = None
    delete_old: bool = False
    # Owner ids the restore changes, beyond ec2-user's own (500 -> 1000 from Amazon Linux
    # 1): other users' files, a group. Old id -> new id.
    uid_map: Mapping[int, int] = field(default_factory=dict)
    gid_map: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NotebookInstanceSpec:
    name: str
    instance_type: str
    execution_role: str  # a role name or ARN
    region: str | None = None  # None: the estate's primary region
    platform: str = DEFAULT_PLATFORM
    volume_size_gb: int = 5
    network: NotebookNetworkSpec | None = None
    root_access: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    # An in-place update needs the instance stopped: stop it (and start it again
    # afterwards), or wait until its user stops it.
    stop_for_updates: bool = False
    migration: NotebookMigrationSpec = NotebookMigrationSpec()
    # A SnapshotPolicy by name: the operator attaches a lifecycle configuration that
    # snapshots the volume on every start into the policy's bucket (controller/notebooks).
    backup_policy: str | None = None

    def region_in(self, primary: str) -> str:
        return self.region or primary
