"""The controller's Prometheus metrics, in one place so dashboards and alerts can be
checked against exactly these names (manifests/ uses them; a test compares).

AWS call counts live with the gateway (studio_operator_aws_calls_total).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics

# The *_created series double every counter on the dashboards for no use here.
disable_created_metrics()

PASSES = Counter(
    "studio_operator_reconcile_passes",
    "Reconcile passes by result: converged (nothing to do), applied (all actions done), "
    "partial (some actions waiting or failed), error (the pass itself failed).",
    ["result"])
PASS_DURATION = Histogram(
    "studio_operator_reconcile_pass_duration_seconds",
    "Wall time of one reconcile pass (observe, plan, execute).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
DRIFTED = Gauge(
    "studio_operator_drifted_resources",
    "Resources whose observed state differed from the desired state in the last pass.",
    ["kind"])
ACTIONS = Counter(
    "studio_operator_actions",
    "Actions executed, by resource kind, action and outcome (ok, waiting, terminal, error).",
    ["kind", "action", "outcome"])
RESOURCES_READY = Gauge(
    "studio_operator_resources",
    "Managed resources by kind and Ready condition status.",
    ["kind", "ready"])
LAST_SUCCESS = Gauge(
    "studio_operator_last_successful_pass_timestamp_seconds",
    "When the last pass that raised no error finished (seconds since the epoch).")
REVISION = Info(
    "studio_operator_desired_state",
    "The desired-state revision in force (last good) and the last one seen.")
REVISION_VALID = Gauge(
    "studio_operator_desired_state_valid",
    "1 when the last desired-state revision seen was valid, 0 when it was refused.")
# Not `region`: that is the label scrape configs put on each controller's target (the
# alert rules aggregate by it); a metric label of the same name would clash with it.
ROLE = Gauge(
    "studio_operator_region_active",
    "1 when this controller's region (controller_region) is the estate's active region, "
    "0 on standby.",
    ["controller_region"])
REPLICATION_LAG = Gauge(
    "studio_operator_replication_lag_seconds",
    "Seconds since the replica of a file system last caught up with its source "
    "(from EFS LastReplicatedTimestamp).",
    ["file_system"])
FAILOVER_PHASE = Gauge(
    "studio_operator_failover_phase",
    "1 for the failover phase this region is in, 0 for the others: Steady, Promoting, "
    "Converging, Complete (active region); Standby, AwaitingTakeover (the flag moved away "
    "and the new region has not recorded taking over: nothing is fenced), Fencing, Saving, "
    "ReadyForFailback, Replicating, InSync (standby region, failing back).",
    ["phase"])
NOTEBOOK_MIGRATION_PHASE = Gauge(
    "studio_operator_notebook_migration_phase",
    "1 for the phase a NotebookInstance's migration to a new instance is in, 0 for the "
    "others: Snapshotting, Creating, Restoring, StoppingOld, Sealing, DeletingOld, "
    "Complete.",
    ["notebook", "phase"])
FAILOVER_RECOVERY = Gauge(
    "studio_operator_failover_recovery_seconds",
    "Time from the controller seeing the revision that made this region active to every "
    "resource Ready.")
COPY_FILES = Counter(
    "studio_operator_copied_files_total",
    "Files the operator copied between file systems, by purpose (working_copy: filling or "
    "refreshing a working copy from a replica; recovery: saving an old copy's files before "
    "failback).",
    ["purpose"])
COPY_BYTES = Counter(
    "studio_operator_copied_bytes_total",
    "Bytes the operator copied between file systems, by purpose (as "
    "studio_operator_copied_files_total).",
    ["purpose"])
LEADER = Gauge(
    "studio_operator_leader",
    "1 while this replica holds the region's lease and acts, 0 while it stands by.")
TAKEOVER_AWAITED = Gauge(
    "studio_operator_takeover_awaited_seconds",
    "On a region the active-region flag has moved away from: seconds since this controller "
    "saw that revision while the region the flag points at has not recorded taking over "
    "(its controller is not acting); 0 otherwise. The old region fences only after the "
    "takeover is recorded.")
PREFLIGHT_CHECK = Gauge(
    "studio_operator_preflight_check",
    "Would a failover into target_region (the region the flag does not point at) work if "
    "the flag flipped now? Per check of `studioctl preflight`: 1 passes (or has nothing to "
    "check), 0 fails or could not be checked (the log says which, and what to do). Set "
    "every --preflight-minutes by the leader, not on every pass.",
    ["check", "target_region"])
PREFLIGHT_CHECKED = Gauge(
    "studio_operator_preflight_last_run_timestamp_seconds",
    "When this controller last finished a preflight (seconds since the epoch).")

SUSPENDED_ACTIONS = Gauge(
    "studio_operator_suspended_actions",
    "Changes the last pass did not make because the resource (or the estate) is "
    "suspended, by resource kind.",
    ["kind"])
REMOVAL_HELD = Gauge(
    "studio_operator_removal_held",
    "1 while the removal guard holds a prune (it would delete more than "
    "safety.maxRemovalPercent of the managed profiles and domains) until the desired "
    "state confirms the revision; 0 otherwise.")
PRUNE_PENDING = Gauge(
    "studio_operator_prune_pending",
    "User profiles and domains the last pass found to prune (held or going ahead).")
EVENTS = Counter(
    "studio_operator_events",
    "Messages read from the region's event queue, by outcome: enqueued (a key to look at "
    "again), ignored (about nothing here), malformed (left for the dead-letter queue).",
    ["outcome"])
EVENT_QUEUE_UP = Gauge(
    "studio_operator_event_queue_up",
    "1 while the region's event queue (EventBridge -> SQS) is read, 0 while it cannot be; "
    "changes made outside git then wait for the periodic resync.")
EVENT_PASSES = Counter(
    "studio_operator_event_passes",
    "Passes run because of events, by scope: targeted (only the profiles the events named "
    "were described and acted on) or full.",
    ["scope"])
# Snapshot and restore metrics live with them; imported here so that every exported
# name is registered wherever the controller's metrics are.
import controller.snapshots.metrics  # noqa: E402,F401
