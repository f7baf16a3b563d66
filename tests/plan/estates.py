"""Desired and observed states built in memory, for the pure diff and plan tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from controller.model import (
    DesiredState,
    DomainSpec,
    EstateSpec,
    FileSystemPlacement,
    FileSystemSpec,
    NetworkSpec,
    Posix,
    ShareScope,
    ShareSpec,
    UserProfileSpec,
)
from controller.observed import (
    ObservedDirectory,
    ObservedDomain,
    ObservedFileSystem,
    ObservedProfile,
    ObservedReplication,
    ObservedState,
    ResolvedReferences,
)
from controller.plan.shapes import Shapes

PRIMARY, REPLICA = "us-east-1", "us-west-2"
NETWORK = NetworkSpec("studio-vpc", ("private-a", "private-b"), ("nfs",))
SHARES = {
    "home": ShareSpec("home", "efs", ShareScope.USER, "/home/{domain}/{profile}", 0o700),
    "team": ShareSpec("team", "efs", ShareScope.DOMAIN, "/teams/{domain}", 0o2770),
    "data": ShareSpec("data", "efs", ShareScope.ORGANISATION, "/shared/data", 0o775,
                      Posix(10000, 1001)),
}


def estate(domains: dict[str, list[tuple[str, int, int]]], shares: tuple[str, ...] = (
        "home", "team", "data"), revision: str = "r1") -> DesiredState:
    """An estate with the given domains -> [(profile, uid, gid)], all on one file system."""
    domain_specs = {
        name: DomainSpec(name, "studio-role", {PRIMARY: NETWORK, REPLICA: NETWORK},
                         shares=shares)
        for name in domains
    }
    profiles = {
        f"{domain}/{name}": UserProfileSpec(name, domain, Posix(uid, gid))
        for domain, members in domains.items()
        for name, uid, gid in members
    }
    return DesiredState(
        revision=revision,
        estate=EstateSpec("estate", PRIMARY, REPLICA, PRIMARY),
        file_systems={"efs": FileSystemSpec("efs", {PRIMARY: FileSystemPlacement(
            name_tag="studio-efs")}, replicate=True)},
        shares={name: SHARES[name] for name in shares},
        domains=domain_specs,
        profiles=profiles,
    )


def references(region: str = PRIMARY) -> ResolvedReferences:
    """PRIMARY's fs-1 replicates to REPLICA's fs-2; each region sees its own as its own."""
    source = ObservedFileSystem("fs-1", "available", "studio-efs", "ENABLED",
                                ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA, "ENABLED"))
    replica = ObservedFileSystem("fs-2", "available", "studio-efs", "REPLICATING",
                                 ObservedReplication("fs-1", PRIMARY, "fs-2", REPLICA, "ENABLED"))
    mine, theirs = (replica, source) if region == REPLICA else (source, replica)
    return ResolvedReferences(
        vpcs={"studio-vpc": "vpc-1"},
        subnets={("studio-vpc", "private-a"): "subnet-a", ("studio-vpc", "private-b"): "subnet-b"},
        security_groups={("studio-vpc", "nfs"): "sg-1"},
        roles={"studio-role": "arn:aws:iam::123456789012:role/studio-role"},
        file_systems={"efs": mine},
        remote_file_systems={"efs": theirs},
    )


# Fields AWS adds on its own: the diff must not see them as drift.
AWS_DEFAULTS: dict[str, Any] = {
    "JupyterServerAppSettings": {"DefaultResourceSpec": {"InstanceType": "system"}},
    "StudioWebPortal": "ENABLED",
}


def converged(desired: DesiredState, region: str = PRIMARY) -> ObservedState:
    """What a region holds once the desired state has been applied, AWS defaults and all."""
    refs = references(region)
    shapes = Shapes(desired, region, refs, set())
    domains = {}
    for index, name in enumerate(sorted(desired.domains)):
        request = shapes.domain_request(desired.domains[name])
        assert request is not None
        description = {**request, "DomainId": f"d-{index:012d}", "Status": "InService",
                       "HomeEfsFileSystemId": "fs-home",
                       "DefaultUserSettings": {**request["DefaultUserSettings"],
                                               **AWS_DEFAULTS}}
        domains[name] = ObservedDomain(description["DomainId"], name, "InService", description)
    profiles = {}
    for key, profile in desired.profiles.items():
        settings = shapes.user_settings(profile)
        description = {"DomainId": domains[profile.domain].domain_id,
                       "UserProfileName": profile.name, "Status": "InService",
                       "UserSettings": {**(settings or {}), **AWS_DEFAULTS}}
        profiles[key] = ObservedProfile(domains[profile.domain].domain_id, profile.name,
                                        "InService", None, description)
    directories = {
        (d.file_system, d.path): ObservedDirectory("directory", d.owner.uid, d.owner.gid, d.mode)
        for d in desired.share_directories()
    }
    return ObservedState(region, refs, domains, profiles, directories)


def empty(region: str = PRIMARY) -> ObservedState:
    return ObservedState(region, references(region))


names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@st.composite
def estates(draw: st.DrawFn) -> DesiredState:
    domain_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    profile_names = draw(st.lists(names, min_size=0, max_size=12, unique=True))
    uids = iter(draw(st.lists(st.integers(10000, 4000000), min_size=len(profile_names),
                              max_size=len(profile_names), unique=True)))
    domains: dict[str, list[tuple[str, int, int]]] = {d: [] for d in domain_names}
    for profile in profile_names:
        domain = draw(st.sampled_from(domain_names))
        domains[domain].append((profile, next(uids), draw(st.integers(1001, 4000000))))
    shares = tuple(draw(st.lists(st.sampled_from(sorted(SHARES)), unique=True)))
    return estate(domains, shares)
