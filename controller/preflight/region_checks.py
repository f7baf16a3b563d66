"""The preflight's checks of the target region itself: can Studio's mount targets be
there, is its controller alive, do the execution roles exist, can the snapshot buckets
be reached, do the quotas have room. Pure (see controller.preflight.checks).

The mount targets are judged by planning them exactly as the failover will (plan
.nfs_access with the flag flipped): what it could not make is what the failover could
not make either. The same plan says how many mount targets a failover adds, for the
quota check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from controller.model import FailoverStrategy
from controller.observed import ObservedState
from controller.plan.nfs_access import plan_nfs_access, studio_file_systems
from controller.plan.types import Action, Ref
from controller.preflight.facts import PreflightFacts
from controller.preflight.report import CheckResult, Status

FILE_SYSTEMS_QUOTA, MOUNT_TARGETS_QUOTA = "L-848C634D", "L-7391004C"


def combine(name: str, findings: Iterable[tuple[Status, str]], remedy: str) -> CheckResult:
    """One result from per-item findings: any failure fails it; else any error makes it
    unknown; else it passes if anything passed."""
    found = list(findings)
    statuses = {status for status, _ in found}
    for status in (Status.FAIL, Status.ERROR, Status.PASS):
        if status in statuses:
            return CheckResult(name, status, tuple(d for _, d in found), remedy)
    return CheckResult(name, Status.SKIP, tuple(d for _, d in found))


def could_not_read(name: str, facts: PreflightFacts, fact: str) -> CheckResult:
    why = facts.errors.get(fact, "not read")
    return CheckResult(name, Status.ERROR, (f"could not read {facts.target}: {why}",),
                       "check that this controller (or your credentials) can reach AWS in "
                       f"{facts.target} and is allowed to read it, then run the preflight again")


def planned_nfs_access(facts: PreflightFacts) -> tuple[list[Action], list[str]] | None:
    """What the failover would plan for Studio's mount targets: (actions, problems)."""
    if facts.references is None or facts.nfs is None:
        return None
    flipped = facts.flipped
    observed = ObservedState(region=facts.target, references=facts.references, nfs=facts.nfs)
    ids: dict[str, str | Ref] = dict(studio_file_systems(flipped, facts.target,
                                                         facts.references))
    actions: list[Action] = []
    problems: list[str] = []
    plan_nfs_access(flipped, observed, ids, actions, problems, [])
    return actions, problems


def check_mount_targets(facts: PreflightFacts) -> CheckResult:
    name = "mount_targets"
    remedy = ("give each domain's network for the target region a VPC, subnets (one per "
              "availability zone) and security groups that exist there under those names "
              "(infra/cloudformation/studio-prerequisites.yaml makes them), and keep the file "
              "systems' mount targets in that VPC")
    if facts.references is None:
        return could_not_read(name, facts, "references")
    if facts.nfs is None:
        return could_not_read(name, facts, "nfs")
    refs, target = facts.references, facts.target
    findings: list[tuple[Status, str]] = []
    for domain, spec in sorted(facts.desired.domains.items()):
        net = spec.networks.get(target)
        if net is None:
            findings.append((Status.FAIL, f"Domain/{domain} has no network for {target}"))
            continue
        if refs.vpcs.get(net.vpc) is None:
            findings.append((Status.FAIL, f"Domain/{domain}: VPC {net.vpc} not found in "
                                          f"{target}"))
            continue
        findings += [(Status.FAIL, f"Domain/{domain}: subnet {s} not found in {net.vpc}")
                     for s in net.subnets if refs.subnets.get((net.vpc, s)) is None]
        groups = (*net.security_groups, *filter(None, [net.nfs_security_group]))
        findings += [(Status.FAIL, f"Domain/{domain}: security group {g} not found in "
                                   f"{net.vpc}") for g in groups
                     if refs.security_groups.get((net.vpc, g)) is None]
    findings += [(Status.FAIL, f"{a.kind} Name={a.name} is carried by several: "
                               f"{', '.join(a.ids)}; none is used")
                 for a in refs.ambiguous if a.region == target and a.kind != "file system"]
    planned = planned_nfs_access(facts)
    assert planned is not None
    actions, problems = planned
    findings += [(Status.FAIL, problem) for problem in problems]
    if not any(status is Status.FAIL for status, _ in findings):
        findings += _what_would_be_made(facts, actions)
    return combine(name, findings, remedy)


def _what_would_be_made(facts: PreflightFacts, actions: list[Action]) -> list[tuple[Status, str]]:
    assert facts.references is not None and facts.nfs is not None
    flipped = facts.flipped
    serving = studio_file_systems(flipped, facts.target, facts.references)
    findings: list[tuple[Status, str]] = []
    for logical, fs_id in sorted(serving.items()):
        existing = len(facts.nfs.mount_targets.get(fs_id, ()))
        made = sum(1 for a in actions if a.name == "CreateMountTarget"
                   and a.params.get("FileSystemId") == fs_id)
        findings.append((Status.PASS, f"{logical} ({fs_id}): {existing} mount target(s) "
                                      f"exist, {made} would be created"))
    if flipped.estate.failover_strategy is FailoverStrategy.COPY:
        findings += [(Status.PASS, f"{logical}: its working copy gets its mount targets when "
                                   "the failover makes it")
                     for logical, spec in sorted(flipped.file_systems.items())
                     if spec.replicate and logical not in serving]
    groups = [a.params.get("GroupName") for a in actions if a.name == "CreateNfsSecurityGroup"]
    findings += [(Status.PASS, f"NFS security group {g} would be made") for g in groups]
    if not findings:
        findings.append((Status.SKIP, f"no domain in {facts.target} mounts a file system"))
    return findings


def check_standby_controller(facts: PreflightFacts) -> CheckResult:
    name = "standby_controller"
    remedy = (f"start the controller in {facts.target} (its ECS service: desired count, task "
              "events and logs) with leader election on (--lease-seconds, default 30): a "
              "flip of the flag does nothing until that controller acts")
    lease = facts.lease
    if lease is None:
        return could_not_read(name, facts, "lease")
    table = f"{facts.status_table} in {facts.target}"
    if not lease.table_exists:
        return CheckResult(name, Status.FAIL, (f"no status table {table}: no controller has "
                                               "run there (its CloudFormation stack makes it)",),
                           remedy)
    if lease.expires_at is None:
        return CheckResult(name, Status.FAIL, (f"nobody holds the lease in {table}: no "
                                               "controller runs there, or it runs with "
                                               "--lease-seconds 0",), remedy)
    holder = lease.holder or "unknown"
    overdue = facts.now - lease.expires_at
    if overdue > facts.lease_grace_seconds:
        return CheckResult(name, Status.FAIL, (f"the lease of {holder} in {table} ran out "
                                               f"{overdue:,.0f} s ago (at "
                                               f"{_iso(lease.expires_at)})",), remedy)
    return CheckResult(name, Status.PASS, (f"{holder} holds the lease in {table} (until "
                                           f"{_iso(lease.expires_at)})",))


def check_execution_role(facts: PreflightFacts) -> CheckResult:
    name = "execution_role"
    remedy = ("create the roles the domains and profiles name (executionRole), each with a "
              "trust policy that lets sagemaker.amazonaws.com assume it (IAM is global: one "
              "role serves both regions); a profile's own role must also be one the "
              "controller may pass: under the stack's ProfileExecutionRolePath")
    if facts.roles is None:
        return could_not_read(name, facts, "roles")
    if not facts.roles:
        return CheckResult(name, Status.SKIP, (f"no domain has a network in {facts.target}",))
    findings: list[tuple[Status, str]] = []
    for reference, role in sorted(facts.roles.items()):
        who = f" ({role.named_by})" if role.named_by else ""
        if role.arn is None:
            findings.append((Status.FAIL, f"role {reference}{who} does not exist in this "
                                          "account"))
        elif not role.trusts_sagemaker:
            findings.append((Status.FAIL, f"role {role.arn}{who} does not let "
                                          "sagemaker.amazonaws.com assume it"))
        elif facts.passable_roles is not None and not may_pass(facts.passable_roles, role.arn):
            findings.append((Status.FAIL, f"role {role.arn}{who} is not one the controller "
                                          "may pass to SageMaker (iam:PassRole)"))
        else:
            passable = ("" if facts.passable_roles is None
                        else ", and the controller may pass it")
            findings.append((Status.PASS, f"role {role.arn}{who} exists and trusts "
                                          f"SageMaker{passable}"))
    return combine(name, findings, remedy)


def may_pass(patterns: tuple[str, ...], arn: str) -> bool:
    """Whether an IAM Resource of `patterns` matches `arn`: "*" any run of characters
    (a "/" too), "?" any one; case-sensitive, as IAM compares ARNs."""
    return any(re.fullmatch(".*".join(".".join(re.escape(part) for part in piece.split("?"))
                                      for piece in pattern.split("*")), arn)
               for pattern in patterns)


def check_event_trail(facts: PreflightFacts) -> CheckResult:
    """The stack's EventBridge rule on SageMaker and EFS API calls gets events only for
    calls a logging trail records: without one, changes made outside git wait for the
    resync (the failover itself still works, but not as the estate was promised)."""
    name = "event_trail"
    remedy = (f"create (or turn logging on for) a CloudTrail trail that records management "
              f"write events in {facts.target}: a multi-region trail covers both regions "
              "(an organization's trail counts); see the README, \"Events\"")
    if facts.trails is None:
        return could_not_read(name, facts, "trails")
    usable = [t for t in facts.trails if t.logging and t.management_writes is not False]
    if usable:
        return CheckResult(name, Status.PASS, tuple(
            f"trail {t.name} (home {t.home_region}) logs " + (
                "management events" if t.management_writes else
                "(its event selectors could not be read)") for t in usable))
    why = [f"trail {t.name}: " + ("logging is off" if not t.logging
                                  else "records no management write events")
           for t in facts.trails] or [f"no CloudTrail trail covers {facts.target}"]
    return CheckResult(name, Status.FAIL, (*why, "changes made outside git would wait for "
                                                 "the resync"), remedy)


def check_snapshot_bucket(facts: PreflightFacts) -> CheckResult:
    name = "snapshot_bucket"
    remedy = ("create the bucket the SnapshotPolicy names for the target region (or name "
              "one), and let the controller's task role list it")
    if "buckets" in facts.errors:
        return could_not_read(name, facts, "buckets")
    if not facts.buckets:
        return CheckResult(name, Status.SKIP, ("no SnapshotPolicy",))
    findings: list[tuple[Status, str]] = []
    for bucket in facts.buckets:
        if bucket.bucket is None:
            findings.append((Status.FAIL, f"SnapshotPolicy/{bucket.policy} names no bucket for "
                                          f"{facts.target}"))
        elif not bucket.reachable:
            findings.append((Status.FAIL, f"SnapshotPolicy/{bucket.policy}: bucket "
                                          f"{bucket.bucket} cannot be reached ({bucket.error})"))
        else:
            findings.append((Status.PASS, f"SnapshotPolicy/{bucket.policy}: bucket "
                                          f"{bucket.bucket} can be reached"))
    return combine(name, findings, remedy)


def check_quotas(facts: PreflightFacts) -> CheckResult:
    name = "quotas"
    remedy = ("ask for a quota increase in the target region (Service Quotas console), or "
              "remove what is no longer used there")
    if facts.limits is None or facts.usage is None:
        return could_not_read(name, facts, "quotas")
    planned = planned_nfs_access(facts)
    new_mount_targets = sum(1 for a in (planned[0] if planned else [])
                            if a.name == "CreateMountTarget")
    usage, target = facts.usage, facts.target
    wanted = (
        (FILE_SYSTEMS_QUOTA, "EFS file systems", usage.file_systems, _new_file_systems(facts)),
        (MOUNT_TARGETS_QUOTA, "EFS mount targets (counted over the region: an upper bound of "
                              "one VPC's)", usage.mount_targets, new_mount_targets),
    )
    findings: list[tuple[Status, str]] = []
    for code, what, used, needed in wanted:
        limit = facts.limits.get(code)
        if limit is None:
            findings.append((Status.ERROR, f"{what}: quota {code} not read"))
            continue
        line = (f"{what}: {used} in {target} + {needed} a failover makes, quota "
                f"{limit.value:,.0f} ({limit.source})")
        findings.append((Status.FAIL if used + needed > limit.value else Status.PASS, line))
    domains = [d for d, spec in facts.desired.domains.items()
               if target in spec.networks and d not in usage.domains]
    findings.append((Status.SKIP, f"SageMaker domains: {len(usage.domains)} in {target}, "
                                  f"{len(domains)} a failover makes (SageMaker's domain quota "
                                  "is not read: assumed to have room)"))
    return combine(name, findings, remedy)


def _new_file_systems(facts: PreflightFacts) -> int:
    """File systems a failover creates: a working copy per replicated file system under
    strategy copy (unless one exists), and non-replicated placements with `create`."""
    refs = facts.references
    if refs is None:
        return 0
    strategy = facts.desired.estate.failover_strategy
    count = 0
    for logical, spec in facts.desired.file_systems.items():
        if spec.replicate:
            count += (strategy is FailoverStrategy.COPY and logical not in refs.working_copies)
            continue
        placement = spec.placement_in(facts.target)
        if placement is not None and placement.create is not None and (
                refs.file_systems.get(logical) is None):
            count += 1
    return count


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
