"""Schema-valid documents -> the typed desired state (controller.model).

Two steps. `build_specs` turns each document (and each row of a Domain's compact
profiles table) into its model spec, applies the defaults the schemas document, and
keeps where it was written (a Located), so the cross-document rules can report against
the right line. `assemble` then keys the specs by name into a DesiredState once the
rules found nothing. This module must only ever see documents that passed the schemas
(it trusts their shape) and must not judge anything across documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from controller.desired.documents import Document, FieldPath
from controller.errors import Problem
from controller.model import (
    DesiredState,
    DomainSpec,
    EstateSpec,
    FailoverStrategy,
    FileSystemCreateSettings,
    FileSystemPlacement,
    FileSystemSpec,
    Mode,
    NetworkSpec,
    Posix,
    ProfileSettings,
    SafetyLimits,
    ShareScope,
    ShareSpec,
    SingleSignOnSpec,
    SourceLocation,
    SpaceBackupSpec,
    UserProfileSpec,
)
from controller.notebooks.spec import (
    DEFAULT_PLATFORM,
    NotebookInstanceSpec,
    NotebookMigrationSpec,
    NotebookNetworkSpec,
)
from controller.snapshots.spec import RestoreSpec, SnapshotPolicySpec

SpecT = TypeVar("SpecT")
_NAME: FieldPath = ("metadata", "name")


@dataclass(frozen=True)
class Located(Generic[SpecT]):
    """A spec and where its fields were written.

    `fields` maps a spec-level field name ("uid", "shares", "path", ...) to its path in
    the document; by default a field lives at spec.<field> and the name at metadata.name.
    """

    kind: str
    spec: SpecT
    document: Document
    fields: Mapping[str, FieldPath] = field(default_factory=dict)

    def path(self, name: str) -> FieldPath:
        if name in self.fields:
            return self.fields[name]
        return _NAME if name == "name" else ("spec", name)

    def problem(self, name: str, message: str, *extra: str | int) -> Problem:
        """A problem at field `name` (deeper by `extra`, e.g. a list index)."""
        return self.document.problem((*self.path(name), *extra), message)

    @property
    def location(self) -> SourceLocation:
        return self.document.location(self.path("name"))


@dataclass
class Specs:
    """Every spec the documents declare, duplicates and all, in document order."""

    estates: list[Located[EstateSpec]] = field(default_factory=list)
    file_systems: list[Located[FileSystemSpec]] = field(default_factory=list)
    shares: list[Located[ShareSpec]] = field(default_factory=list)
    domains: list[Located[DomainSpec]] = field(default_factory=list)
    profiles: list[Located[UserProfileSpec]] = field(default_factory=list)
    notebooks: list[Located[NotebookInstanceSpec]] = field(default_factory=list)
    snapshot_policies: list[Located[SnapshotPolicySpec]] = field(default_factory=list)
    restores: list[Located[RestoreSpec]] = field(default_factory=list)


def build_specs(documents: list[Document]) -> Specs:
    specs = Specs()
    for document in documents:
        body = document.body
        name, spec = str(document.name), body["spec"]
        kind = str(document.kind)
        if kind == "Estate":
            specs.estates.append(Located(kind, _estate(name, spec), document))
        elif kind == "FileSystem":
            specs.file_systems.append(Located(kind, _file_system(name, spec), document))
        elif kind == "Share":
            specs.shares.append(Located(kind, _share(name, spec), document))
        elif kind == "Domain":
            specs.domains.append(Located(kind, _domain(name, spec), document))
            specs.profiles.extend(_profile_rows(name, spec, document))
        elif kind == "UserProfile":
            specs.profiles.append(Located(kind, _user_profile(name, spec), document,
                                          {"uid": ("spec", "posix", "uid")}))
        elif kind == "NotebookInstance":
            specs.notebooks.append(Located(kind, _notebook(name, spec), document, {
                "instanceName": ("spec", "migration", "instanceName"),
                "uidMap": ("spec", "migration", "uidMap"),
                "gidMap": ("spec", "migration", "gidMap"),
                "snapshotPolicy": ("spec", "backup", "snapshotPolicy")}))
        elif kind == "SnapshotPolicy":
            from controller.desired.snapshot_specs import snapshot_policy

            specs.snapshot_policies.append(Located(kind, snapshot_policy(name, spec), document))
        elif kind == "Restore":
            from controller.desired.snapshot_specs import restore

            specs.restores.append(Located(kind, restore(name, spec), document))
    return specs


def assemble(specs: Specs, revision: str) -> DesiredState:
    """Key the specs by name. The rules have already refused duplicates."""
    sources: dict[str, SourceLocation] = {}

    def keyed(items: list[Located[Any]], key: Any) -> dict[str, Any]:
        result = {}
        for item in items:
            result[key(item.spec)] = item.spec
            sources[f"{item.kind}/{key(item.spec)}"] = item.location
        return result

    estate = specs.estates[0]
    sources[f"Estate/{estate.spec.name}"] = estate.location
    return DesiredState(
        revision=revision,
        estate=estate.spec,
        file_systems=keyed(specs.file_systems, lambda s: s.name),
        shares=keyed(specs.shares, lambda s: s.name),
        domains=keyed(specs.domains, lambda s: s.name),
        profiles=keyed(specs.profiles, lambda s: s.qualified_name),
        notebooks=keyed(specs.notebooks, lambda s: s.name),
        snapshot_policies=keyed(specs.snapshot_policies, lambda s: s.name),
        restores=keyed(specs.restores, lambda s: s.name),
        sources=sources,
    )


def _posix(value: Mapping[str, Any]) -> Posix:
    return Posix(int(value["uid"]), int(value["gid"]))


def _estate(name: str, spec: Mapping[str, Any]) -> EstateSpec:
    safety = spec.get("safety", {})
    return EstateSpec(
        name=name,
        primary_region=spec["regions"]["primary"],
        replica_region=spec["regions"]["replica"],
        active_region=spec["activeRegion"],
        mode=Mode(spec.get("mode", Mode.ACTIVE_PASSIVE.value)),
        failover_strategy=FailoverStrategy(
            spec.get("failover", {}).get("strategy", FailoverStrategy.PROMOTE.value)),
        fence_without_takeover=bool(spec.get("failover", {}).get("fenceWithoutTakeover",
                                                                 False)),
        safety=SafetyLimits(max_removal_fraction=float(safety.get("maxRemovalPercent", 10))
                            / 100, confirm_removal=safety.get("confirmRemoval")),
        prune=bool(spec.get("prune", False)),
        suspend=bool(spec.get("suspend", False)),
        history_retention_days=int(spec.get("historyRetentionDays", 365)),
    )


def _file_system(name: str, spec: Mapping[str, Any]) -> FileSystemSpec:
    placements = {}
    for region, placement in spec["regions"].items():
        create = placement.get("create", False)
        settings = None
        if create is True:
            settings = FileSystemCreateSettings()
        elif isinstance(create, Mapping):
            settings = FileSystemCreateSettings(
                performance_mode=create.get("performanceMode", "generalPurpose"),
                throughput_mode=create.get("throughputMode", "elastic"),
                encrypted=bool(create.get("encrypted", True)))
        placements[region] = FileSystemPlacement(
            file_system_id=placement.get("fileSystemId"),
            name_tag=placement.get("nameTag"),
            create=settings)
    return FileSystemSpec(
        name=name,
        placements=placements,
        replicate=bool(spec.get("replicate", False)),
        replication_lag_threshold_seconds=int(spec.get("replicationLagThresholdSeconds", 1800)),
        refresh_minutes=int(spec.get("workingCopyRefreshMinutes", 60)),
        suspend=bool(spec.get("suspend", False)))


def _share(name: str, spec: Mapping[str, Any]) -> ShareSpec:
    owner = spec.get("owner")
    return ShareSpec(
        name=name,
        file_system=spec["fileSystem"],
        scope=ShareScope(spec["scope"]),
        path=spec["path"],
        mode=int(spec.get("mode", "0700"), 8),
        owner=_posix(owner) if owner is not None else None,
        suspend=bool(spec.get("suspend", False)))


def _domain(name: str, spec: Mapping[str, Any]) -> DomainSpec:
    networks = {
        region: NetworkSpec(vpc=net["vpc"], subnets=tuple(net["subnets"]),
                            security_groups=tuple(net.get("securityGroups", ())),
                            nfs_security_group=net.get("nfsSecurityGroup"))
        for region, net in spec["network"].items()
    }
    backup = spec.get("spaceBackup")
    return DomainSpec(
        name=name,
        execution_role=spec["executionRole"],
        networks=networks,
        auth_mode=spec.get("authMode", "IAM"),
        default_posix=_posix(spec.get("defaultPosix", {"uid": 200001, "gid": 1001})),
        shares=tuple(spec.get("shares", ())),
        apps=tuple(spec.get("apps", ("JupyterLab", "CodeEditor"))),
        space_backup=SpaceBackupSpec(enabled=bool(backup.get("enabled", True)),
                                     share=backup.get("share"))
        if backup is not None else SpaceBackupSpec(),
        suspend=bool(spec.get("suspend", False)))


def _user_profile(name: str, spec: Mapping[str, Any]) -> UserProfileSpec:
    return profile_spec(name, spec["domain"], spec, _posix(spec["posix"]))


def profile_spec(name: str, domain: str, fields: Mapping[str, Any],
                 posix: Posix) -> UserProfileSpec:
    """A profile from a UserProfile document's spec, a profiles table row or a CSV row
    (the same optional fields in each)."""
    tags = fields.get("tags") or {}
    settings = ProfileSettings(
        execution_role=fields.get("executionRole"),
        instance_type=fields.get("defaultInstanceType"),
        idle_shutdown_minutes=(int(fields["idleShutdownMinutes"])
                               if fields.get("idleShutdownMinutes") is not None else None),
        tags=tuple(sorted((str(k), str(v)) for k, v in tags.items())))
    return UserProfileSpec(name=name, domain=domain, posix=posix,
                           shares=tuple(fields.get("shares", ())),
                           sso=_single_sign_on(fields.get("singleSignOn")),
                           settings=settings,
                           suspend=bool(fields.get("suspend", False)),
                           restore_on_recreate=bool(fields.get("restoreOnRecreate", True)))


def _notebook(name: str, spec: Mapping[str, Any]) -> NotebookInstanceSpec:
    network = spec.get("network")
    migration = spec.get("migration", {})
    return NotebookInstanceSpec(
        name=name,
        instance_type=spec["instanceType"],
        execution_role=spec["executionRole"],
        region=spec.get("region"),
        platform=spec.get("platformIdentifier", DEFAULT_PLATFORM),
        volume_size_gb=int(spec.get("volumeSizeInGB", 5)),
        network=NotebookNetworkSpec(
            vpc=network["vpc"], subnet=network["subnet"],
            security_groups=tuple(network.get("securityGroups", ())),
            direct_internet_access=bool(network.get("directInternetAccess", True)),
        ) if network is not None else None,
        root_access=bool(spec.get("rootAccess", True)),
        tags=dict(spec.get("tags", {})),
        stop_for_updates=bool(spec.get("stopForUpdates", False)),
        migration=NotebookMigrationSpec(
            instance_name=migration.get("instanceName"),
            delete_old=bool(migration.get("deleteOld", False)),
            uid_map={int(k): int(v) for k, v in migration.get("uidMap", {}).items()},
            gid_map={int(k): int(v) for k, v in migration.get("gidMap", {}).items()}),
        backup_policy=spec.get("backup", {}).get("snapshotPolicy"))


def _single_sign_on(value: Mapping[str, Any] | None) -> SingleSignOnSpec | None:
    if value is None:
        return None
    return SingleSignOnSpec(user_value=str(value["userValue"]),
                            user_identifier=str(value.get("userIdentifier", "UserName")))


def _profile_rows(domain: str, spec: Mapping[str, Any],
                  document: Document) -> list[Located[UserProfileSpec]]:
    rows = []
    for index, row in enumerate(spec.get("profiles", ())):
        base: FieldPath = ("spec", "profiles", index)
        profile = profile_spec(row["name"], domain, row, _posix(row))
        fields = {"name": (*base, "name"), "uid": (*base, "uid"), "gid": (*base, "gid"),
                  "shares": (*base, "shares"), "domain": _NAME,
                  "singleSignOn": (*base, "singleSignOn")}
        rows.append(Located("UserProfile", profile, document, fields))
    return rows
