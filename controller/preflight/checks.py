"""The preflight's checks: would a failover into the target region work if the flag
flipped now? Pure: each check judges `PreflightFacts` and names what to do.

The replica checks are here (replica_exists, replica_in_sync, replica_name_tag); the
region's (mount_targets, standby_controller, execution_role, snapshot_bucket, quotas,
event_trail)
are in controller.preflight.region_checks. Each check reports a problem once, at its
root: a check whose subject is missing because another check failed skips that item
("see replica_exists") rather than failing too. A new check is a function of the facts
added to CHECKS (and a reader in controller.preflight.read when it needs new facts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from controller.model import FileSystemSpec
from controller.observed import ObservedFileSystem
from controller.plan.nfs_access import file_systems_of
from controller.preflight.facts import PreflightFacts
from controller.preflight.region_checks import (
    check_event_trail,
    check_execution_role,
    check_mount_targets,
    check_quotas,
    check_snapshot_bucket,
    check_standby_controller,
    combine,
    could_not_read,
)
from controller.preflight.report import CheckResult, PreflightReport, Status

Finding = tuple[Status, str]
BAD_REPLICATION_STATES = ("ERROR", "PAUSED", "DELETING")


def check_replica_exists(facts: PreflightFacts) -> CheckResult:
    name = "replica_exists"
    remedy = ("the active region's controller creates each replica (is it running? does the "
              "FileSystem say replicate: true?); a copy that is not a replica is an old active "
              "copy whose failback has not finished (studioctl status in that region)")
    refs = facts.references
    if refs is None:
        return could_not_read(name, facts, "references")
    findings: list[Finding] = []
    for logical, spec in sorted(facts.desired.file_systems.items()):
        if spec.replicate:
            findings.append(_replica_of(facts, logical))
        elif logical in _used_in_target(facts):
            findings.append(_plain_copy(facts, logical, spec))
    if not findings:
        return CheckResult(name, Status.SKIP, ("no FileSystem has replicate: true, and no "
                                               "domain in the target mounts one",))
    return combine(name, findings, remedy)


def _replica_of(facts: PreflightFacts, logical: str) -> Finding:
    refs = facts.references
    assert refs is not None
    target, active = facts.target, facts.active
    if refs.remote_read != "ok":
        # The active region could not be read (an outage looks like this): judge the
        # copy the failover would take over from the target's side alone.
        copy = refs.file_systems.get(logical)
        if copy is None:
            return Status.FAIL, (f"{logical}: no copy in {target}, and {active} could not be "
                                 f"read ({refs.remote_read or 'not read'}) to find its "
                                 "replica by id")
        if not copy.is_replica() or copy.replication is None:
            return Status.FAIL, f"{logical}: {copy.file_system_id} in {target} is not a replica"
        if copy.replication.source_region != active:
            return Status.FAIL, (f"{logical}: {copy.file_system_id} replicates from "
                                 f"{copy.replication.source_region}, not from {active}")
        return Status.PASS, (f"{logical}: {copy.file_system_id} in {target} replicates from "
                             f"{copy.replication.source_file_system_id} ({active} could not "
                             "be read: judged from the target alone)")
    source = refs.remote_file_systems.get(logical)
    if source is None:
        return Status.FAIL, f"{logical}: no copy in {active} to replicate from"
    replication = source.replication
    if replication is None or replication.source_file_system_id != source.file_system_id:
        return Status.FAIL, (f"{logical}: {source.file_system_id} in {active} does not "
                             f"replicate to {target}")
    if replication.destination_region != target:
        return Status.FAIL, (f"{logical}: {source.file_system_id} replicates to "
                             f"{replication.destination_region}, not to {target}")
    destination = replication.destination_file_system_id
    if facts.replicas.get(logical) is None:
        return Status.FAIL, (f"{logical}: {source.file_system_id} replicates to {destination}, "
                             f"which {target} does not list")
    if replication.status in BAD_REPLICATION_STATES:
        return Status.FAIL, (f"{logical}: the replication {source.file_system_id} -> "
                             f"{destination} is {replication.status}")
    return Status.PASS, (f"{logical}: {destination} in {target} replicates from "
                         f"{source.file_system_id} in {active} ({replication.status})")


def _plain_copy(facts: PreflightFacts, logical: str, spec: FileSystemSpec) -> Finding:
    refs = facts.references
    assert refs is not None
    placement = spec.placement_in(facts.target)
    copy = refs.file_systems.get(logical)
    if copy is not None:
        return Status.PASS, f"{logical} (not replicated): {copy.file_system_id} in {facts.target}"
    if placement is not None and placement.create is not None:
        return Status.PASS, (f"{logical} (not replicated): would be created in "
                             f"{facts.target} ({placement.reference})")
    where = placement.reference if placement is not None else "no placement there"
    return Status.FAIL, (f"{logical} is not replicated and has no copy in {facts.target} "
                         f"({where}): the domains there could not mount it")


def _used_in_target(facts: PreflightFacts) -> set[str]:
    desired = facts.desired
    return {logical for name, domain in desired.domains.items()
            if facts.target in domain.networks for logical in file_systems_of(desired, name)}


def _replica(facts: PreflightFacts, logical: str) -> ObservedFileSystem | None:
    """The replica a failover would promote: the one the active copy's replication names,
    else (the active region unreadable) the target's copy when it is a replica."""
    refs = facts.references
    if refs is not None and refs.remote_read == "ok":
        return facts.replicas.get(logical)
    copy = refs.file_systems.get(logical) if refs is not None else None
    return copy if copy is not None and copy.is_replica() else None


def check_replica_in_sync(facts: PreflightFacts) -> CheckResult:
    name = "replica_in_sync"
    remedy = ("a failover now would lose what has not replicated: wait for EFS to catch up "
              "(a first sync can take hours), or look at the replication's status in the "
              "EFS console; the FileSystem's replicationLagThresholdSeconds sets the limit")
    if facts.references is None:
        return could_not_read(name, facts, "references")
    findings: list[Finding] = []
    for logical, spec in sorted(facts.desired.file_systems.items()):
        if not spec.replicate:
            continue
        replica = _replica(facts, logical)
        if replica is None or replica.replication is None:
            findings.append((Status.SKIP, f"{logical}: no replica (see replica_exists)"))
            continue
        last = replica.replication.last_replicated
        threshold = spec.replication_lag_threshold_seconds
        if last is None:
            findings.append((Status.FAIL, f"{logical}: {replica.file_system_id} has not "
                                          "finished its first sync"))
            continue
        lag = max(0.0, facts.now - last.timestamp())
        since = last.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if lag > threshold:
            findings.append((Status.FAIL, f"{logical}: {replica.file_system_id} is {lag:,.0f} s "
                                          f"behind its source (threshold {threshold:,} s; "
                                          f"caught up last at {since})"))
        else:
            findings.append((Status.PASS, f"{logical}: {lag:,.0f} s behind its source "
                                          f"(threshold {threshold:,} s)"))
    if not findings:
        return CheckResult(name, Status.SKIP, ("no FileSystem has replicate: true",))
    return combine(name, findings, remedy)


def check_replica_name_tag(facts: PreflightFacts) -> CheckResult:
    name = "replica_name_tag"
    remedy = ("the failover finds the replica by its placement (the Name tag, or the "
              "fileSystemId given for the region): the active region's controller puts a lost "
              "tag back on its next pass (is it running?), or tag it by hand: aws efs "
              "tag-resource --resource-id <replica> --tags Key=Name,Value=<tag>")
    refs = facts.references
    if refs is None:
        return could_not_read(name, facts, "references")
    findings: list[Finding] = []
    for logical, spec in sorted(facts.desired.file_systems.items()):
        if not spec.replicate:
            continue
        replica = _replica(facts, logical)
        placement = spec.placement_in(facts.target)
        if replica is None or placement is None:
            findings.append((Status.SKIP, f"{logical}: no replica (see replica_exists)"))
            continue
        found = refs.file_systems.get(logical)
        wanted = replica.file_system_id
        if placement.file_system_id:
            ok = placement.file_system_id == wanted
            findings.append((Status.PASS if ok else Status.FAIL,
                             f"{logical}: its placement in {facts.target} names "
                             f"{placement.file_system_id}" + ("" if ok else
                                                              f", not the replica {wanted}")))
        elif found is not None and found.file_system_id == wanted:
            findings.append((Status.PASS, f"{logical}: {wanted} carries Name={placement.name_tag}"))
        elif found is not None:
            findings.append((Status.FAIL, f"{logical}: Name={placement.name_tag} is on "
                                          f"{found.file_system_id}, not on the replica "
                                          f"{wanted}: the failover would take that one over"))
        else:
            carriers = [a for a in refs.ambiguous if a.kind == "file system"
                        and a.name == placement.name_tag and a.region == facts.target]
            why = (f"several file systems carry it ({', '.join(carriers[0].ids)})" if carriers
                   else f"{wanted}'s Name is {replica.name_tag or 'missing'}")
            findings.append((Status.FAIL, f"{logical}: no file system in {facts.target} is "
                                          f"found by Name={placement.name_tag}: {why}"))
    if not findings:
        return CheckResult(name, Status.SKIP, ("no FileSystem has replicate: true",))
    return combine(name, findings, remedy)


CHECKS: tuple[tuple[str, Callable[[PreflightFacts], CheckResult]], ...] = (
    ("replica_exists", check_replica_exists),
    ("replica_in_sync", check_replica_in_sync),
    ("replica_name_tag", check_replica_name_tag),
    ("mount_targets", check_mount_targets),
    ("standby_controller", check_standby_controller),
    ("execution_role", check_execution_role),
    ("snapshot_bucket", check_snapshot_bucket),
    ("quotas", check_quotas),
    ("event_trail", check_event_trail),
)
CHECK_NAMES = tuple(name for name, _ in CHECKS)


def judge(facts: PreflightFacts) -> PreflightReport:
    results = tuple(check(facts) for _, check in CHECKS)
    return PreflightReport(facts.active, facts.target, facts.now, results)
