"""Read what the preflight judges, from AWS: the target region as a failover would see it,
the active region's replication, the target's status table, roles, buckets and quotas.

Reads only, through the gateway's clients. Each group of facts is read on its own and a
failure is recorded in `PreflightFacts.errors` (a check then says it could not check)
rather than raised: one unreachable service does not hide the rest. About 15 calls,
whatever the estate's size but for one DescribeMountTargets per file system: cheap
enough for the controller to run every few minutes, never on every pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from controller.gateway import AwsGateway
from controller.model import DesiredState
from controller.observe.efs import describe_file_system, replica_ids
from controller.observe.nfs_access import observe_nfs_access
from controller.observe.references import resolve_references
from controller.observed import ObservedFileSystem, ResolvedReferences
from controller.preflight.facts import (
    BucketFacts,
    LeaseFacts,
    PreflightFacts,
    QuotaLimit,
    RegionUsage,
    RoleFacts,
    TrailFacts,
    flipped,
)
from controller.preflight.region_checks import FILE_SYSTEMS_QUOTA, MOUNT_TARGETS_QUOTA
from controller.status.store import DynamoStatusStore

T = TypeVar("T")
AWS_ERRORS = (BotoCoreError, ClientError)
# AWS's published defaults, used (and said so) when Service Quotas does not answer.
DEFAULT_LIMITS = {FILE_SYSTEMS_QUOTA: ("EFS file systems per account", 1000.0),
                  MOUNT_TARGETS_QUOTA: ("EFS mount targets per VPC", 400.0)}
LEASE_PK = "lease"  # controller.loop.lease's item


def gather(gateway: AwsGateway, desired: DesiredState, target: str, status_table: str,
           now: float, passable_roles: tuple[str, ...] | None = None) -> PreflightFacts:
    errors: dict[str, str] = {}

    def attempt(fact: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except AWS_ERRORS as error:
            errors[fact] = _why(error)
            return None

    references = attempt("references", lambda: resolve_references(
        gateway, flipped(desired, target), target, acting=True))
    replicas: dict[str, ObservedFileSystem | None] = {}
    if references is not None:
        found = attempt("references", lambda: _replicas(gateway, desired, target, references))
        replicas = found or {}
    nfs = None
    if references is not None:
        nfs = attempt("nfs", lambda: observe_nfs_access(gateway, flipped(desired, target),
                                                        target, references))
    return PreflightFacts(
        desired=desired, target=target, now=now, status_table=status_table,
        references=references, replicas=replicas, nfs=nfs,
        lease=attempt("lease", lambda: _lease(gateway, target, status_table)),
        roles=attempt("roles", lambda: _roles(gateway, desired, target)),
        buckets=attempt("buckets", lambda: _buckets(gateway, desired, target)),
        trails=attempt("trails", lambda: _trails(gateway, target)),
        limits=attempt("quotas", lambda: _limits(gateway, target)),
        usage=attempt("quotas", lambda: _usage(gateway, target)),
        errors=errors, passable_roles=passable_roles)


def _why(error: BaseException) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


def _replicas(gateway: AwsGateway, desired: DesiredState, target: str,
              references: ResolvedReferences) -> dict[str, ObservedFileSystem | None]:
    """Each active copy's replica in the target, by the id its replication names."""
    if references.remote_read != "ok":
        return {}
    active = desired.estate.active_region
    found: dict[str, ObservedFileSystem | None] = {}
    for name, fs_id in sorted(replica_ids(references.remote_file_systems, active).items()):
        known = references.file_systems.get(name)
        found[name] = (known if known is not None and known.file_system_id == fs_id
                       else describe_file_system(gateway, target, fs_id))
    return found


def _lease(gateway: AwsGateway, target: str, table: str) -> LeaseFacts:
    store = DynamoStatusStore(gateway, target, table)
    client = gateway.client("dynamodb", target)
    try:
        item = store.get_item(LEASE_PK)
    except client.exceptions.ResourceNotFoundException:
        return LeaseFacts(table_exists=False)
    if item is None:
        return LeaseFacts(table_exists=True)
    return LeaseFacts(True, item.get("holder"), float(item["expiresAt"]))


def _declared_roles(desired: DesiredState, target: str) -> dict[str, list[str]]:
    """Role reference -> what names it: the domains with a network in the target, and
    their profiles with a role of their own."""
    named: dict[str, list[str]] = {}
    for name, domain in sorted(desired.domains.items()):
        if target in domain.networks:
            named.setdefault(domain.execution_role, []).append(f"Domain/{name}")
    for qualified, profile in sorted(desired.profiles.items()):
        home = desired.domains.get(profile.domain)
        role = profile.settings.execution_role
        if role and home is not None and target in home.networks:
            named.setdefault(role, []).append(f"UserProfile/{qualified}")
    return named


def _roles(gateway: AwsGateway, desired: DesiredState, target: str) -> dict[str, RoleFacts]:
    iam = gateway.client("iam", target)
    roles: dict[str, RoleFacts] = {}
    for reference, named in sorted(_declared_roles(desired, target).items()):
        by = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        try:
            role = iam.get_role(RoleName=reference.rsplit("/", 1)[-1])["Role"]
        except iam.exceptions.NoSuchEntityException:
            roles[reference] = RoleFacts(reference, None, named_by=by)
            continue
        if reference.startswith("arn:") and role["Arn"] != reference:
            # Another role of that name (another path, or another account's ARN).
            roles[reference] = RoleFacts(reference, None, named_by=by)
            continue
        roles[reference] = RoleFacts(reference, role["Arn"],
                                     _trusts_sagemaker(role.get("AssumeRolePolicyDocument")),
                                     by)
    return roles


def _trails(gateway: AwsGateway, target: str) -> tuple[TrailFacts, ...]:
    """The trails that record the target region's calls (shadow trails included: a
    multi-region or organization trail made elsewhere), each with its status."""
    found = []
    cloudtrail = gateway.client("cloudtrail", target)
    for trail in cloudtrail.describe_trails(includeShadowTrails=True)["trailList"]:
        # By ARN: a trail made in another region (or an organization's) is known here by
        # its ARN only.
        home, arn = trail.get("HomeRegion", target), trail["TrailARN"]
        logging = bool(cloudtrail.get_trail_status(Name=arn).get("IsLogging"))
        found.append(TrailFacts(trail["Name"], home, logging,
                                _selectors(gateway, cloudtrail, target, home, arn)))
    return tuple(found)


def _selectors(gateway: AwsGateway, cloudtrail: Any, target: str, home: str,
               arn: str) -> bool | None:
    """Whether the trail records management writes; None if its selectors cannot be read
    here nor in its home region (that region may be the one that is down)."""
    for client in (cloudtrail, gateway.client("cloudtrail", home) if home != target else None):
        if client is None:
            continue
        try:
            return _records_management_writes(client.get_event_selectors(TrailName=arn))
        except AWS_ERRORS:
            continue
    return None


def _records_management_writes(selectors: dict[str, Any]) -> bool:
    """Whether a trail's selectors keep management write events (no selectors at all:
    CloudTrail's default, every management event)."""
    basic = selectors.get("EventSelectors")
    advanced = selectors.get("AdvancedEventSelectors")
    if not basic and not advanced:
        return True
    for selector in basic or []:
        if (selector.get("IncludeManagementEvents", True)
                and selector.get("ReadWriteType", "All") in ("All", "WriteOnly")):
            return True
    for selector in advanced or []:
        fields = {f["Field"]: f for f in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        read_only = fields.get("readOnly", {})
        if "Management" in category.get("Equals", []) and "true" not in read_only.get(
                "Equals", []) and "false" not in read_only.get("NotEquals", []):
            return True
    return False


def _trusts_sagemaker(document: Any) -> bool:
    if isinstance(document, str):  # URL-encoded JSON when botocore did not decode it
        document = json.loads(unquote(document))
    statements = (document or {}).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (statement.get("Principal") or {}).get("Service", [])
        services = services if isinstance(services, list) else [services]
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if (statement.get("Effect") == "Allow" and "sagemaker.amazonaws.com" in services
                and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)):
            return True
    return False


def _buckets(gateway: AwsGateway, desired: DesiredState,
             target: str) -> tuple[BucketFacts, ...] | None:
    """The SnapshotPolicy buckets for the target, each probed with HeadBucket there;
    None when the estate has no SnapshotPolicy (nothing to check)."""
    policies = desired.snapshot_policies
    if not policies:
        return None
    s3 = gateway.client("s3", target)
    found: list[BucketFacts] = []
    for name, policy in sorted(policies.items()):
        bucket = policy.buckets.get(target)
        if bucket is None:
            found.append(BucketFacts(name, None))
            continue
        try:
            s3.head_bucket(Bucket=bucket)
            found.append(BucketFacts(name, bucket, reachable=True))
        except ClientError as error:
            if not _definite(error):
                raise  # AWS did not answer (5xx, throttled): could not check, not a failure
            found.append(BucketFacts(name, bucket, reachable=False, error=_why(error)))
    return tuple(found)


def _definite(error: ClientError) -> bool:
    """Whether S3's answer says something about the bucket (missing, forbidden, in another
    region) rather than about S3 not answering (a 5xx, throttling: SlowDown is a 503)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return 400 <= status < 500 and status != 429


def _limits(gateway: AwsGateway, target: str) -> dict[str, QuotaLimit]:
    quotas = gateway.client("service-quotas", target)
    limits: dict[str, QuotaLimit] = {}
    for code, (name, default) in DEFAULT_LIMITS.items():
        try:
            value = float(quotas.get_service_quota(ServiceCode="elasticfilesystem",
                                                   QuotaCode=code)["Quota"]["Value"])
            limits[code] = QuotaLimit(name, code, value, f"Service Quotas {code}")
        except ClientError as error:
            # Not answered (no such quota in this partition, access denied): AWS's default.
            limits[code] = QuotaLimit(name, code, default,
                                      f"AWS's default; Service Quotas said {_why(error)}")
    return limits


def _usage(gateway: AwsGateway, target: str) -> RegionUsage:
    efs = gateway.client("efs", target)
    file_systems = [f for page in efs.get_paginator("describe_file_systems").paginate()
                    for f in page["FileSystems"] if f.get("LifeCycleState") != "deleted"]
    sagemaker = gateway.client("sagemaker", target)
    domains = tuple(sorted(d["DomainName"] for page in sagemaker.get_paginator(
        "list_domains").paginate() for d in page["Domains"]))
    return RegionUsage(len(file_systems),
                       sum(int(f.get("NumberOfMountTargets", 0)) for f in file_systems),
                       domains)
