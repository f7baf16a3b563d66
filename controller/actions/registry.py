"""Which executor runs which action, and running one with its outcome classified."""

from __future__ import annotations

from collections.abc import Callable

from controller.actions.context import ExecutionContext
from controller.actions.directories import ensure_share_directory, reown_home
from controller.actions.domains import create_domain, update_domain, update_domain_network
from controller.actions.fencing import (
    allow_replication_overwrite,
    enable_overwrite_protection,
    fence_file_system,
    lift_fence,
    save_unreplicated_writes,
    stop_studio_apps,
)
from controller.actions.file_systems import create_file_system
from controller.actions.final_snapshot import take_final_snapshot
from controller.actions.lifecycle_configs import ensure_lifecycle_config
from controller.actions.nfs_access import (
    add_mount_target_security_groups,
    allow_nfs_ingress,
    await_mount_target,
    create_mount_target,
    create_nfs_security_group,
)
from controller.actions.notebooks import (
    create_notebook_instance,
    create_notebook_lifecycle_config,
    delete_notebook_instance,
    start_notebook_instance,
    stop_notebook_instance,
    tag_notebook_instance,
    update_notebook_instance,
)
from controller.actions.profiles import (
    create_user_profile,
    tag_user_profile,
    update_user_profile,
)
from controller.actions.prune import (
    await_deletion,
    delete_app,
    delete_domain,
    delete_space,
    delete_user_profile,
)
from controller.actions.recreation import restore_recreated_home
from controller.actions.replication import (
    delete_orphaned_replication,
    ensure_replication,
    promote_replica,
    tag_replica,
)
from controller.actions.snapshots import (
    abort_snapshot_uploads,
    prune_snapshots,
    restore_snapshot_action,
    take_snapshots,
)
from controller.actions.working_copies import attach_working_copy, fill_working_copy
from controller.plan.types import Action

Executor = Callable[[Action, ExecutionContext], str]

EXECUTORS: dict[str, Executor] = {
    "CreateFileSystem": create_file_system,
    "CreateNfsSecurityGroup": create_nfs_security_group,
    "AllowNfsIngress": allow_nfs_ingress,
    "CreateMountTarget": create_mount_target,
    "AwaitMountTarget": await_mount_target,
    "AddMountTargetSecurityGroups": add_mount_target_security_groups,
    "EnsureReplication": ensure_replication,
    "PromoteReplica": promote_replica,
    "TagReplica": tag_replica,
    "DeleteOrphanedReplication": delete_orphaned_replication,
    "StopStudioApps": stop_studio_apps,
    "FenceFileSystem": fence_file_system,
    "SaveUnreplicatedWrites": save_unreplicated_writes,
    "AllowReplicationOverwrite": allow_replication_overwrite,
    "LiftFence": lift_fence,
    "EnableOverwriteProtection": enable_overwrite_protection,
    "CreateWorkingCopy": create_file_system,
    "FillWorkingCopy": fill_working_copy,
    "AttachWorkingCopy": attach_working_copy,
    "CreateDirectory": ensure_share_directory,
    "SetDirectoryOwnership": ensure_share_directory,
    "ReownHome": reown_home,
    "EnsureLifecycleConfig": ensure_lifecycle_config,
    "CreateDomain": create_domain,
    "UpdateDomain": update_domain,
    "UpdateDomainNetwork": update_domain_network,
    "CreateUserProfile": create_user_profile,
    "UpdateUserProfile": update_user_profile,
    "TagUserProfile": tag_user_profile,
    "DeleteApp": delete_app,
    "DeleteSpace": delete_space,
    "TakeFinalSnapshot": take_final_snapshot,
    "DeleteUserProfile": delete_user_profile,
    "DeleteDomain": delete_domain,
    "AwaitDeletion": await_deletion,
    "RestoreRecreatedHome": restore_recreated_home,
    "CreateNotebookInstance": create_notebook_instance,
    "CreateNotebookInstanceLifecycleConfig": create_notebook_lifecycle_config,
    "TagNotebookInstance": tag_notebook_instance,
    "StopNotebookInstance": stop_notebook_instance,
    "UpdateNotebookInstance": update_notebook_instance,
    "StartNotebookInstance": start_notebook_instance,
    "DeleteNotebookInstance": delete_notebook_instance,
    "TakeSnapshots": take_snapshots,
    "AbortSnapshotUploads": abort_snapshot_uploads,
    "PruneSnapshots": prune_snapshots,
    "RestoreSnapshot": restore_snapshot_action,
}


def execute(action: Action, ctx: ExecutionContext) -> str:
    """Run one action; returns what was done, raises TerminalError / RequeueAfter / other."""
    executor = EXECUTORS.get(action.name)
    if executor is None:
        raise NotImplementedError(f"no executor for {action.name}")
    for ref in action.after:
        ctx.resolve(ref)  # RequeueAfter until that earlier action has done its part
    return executor(action, ctx)
