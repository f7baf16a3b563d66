"""SageMaker Studio's own limits and sign-in rules, checked before anything is sent.

The operator renders one CustomFileSystemConfigs entry per file system (several shares
on one file system are folders under one mount), for each domain's defaults and each
profile; SageMaker takes at most 10 entries in a list. A domain's security groups go to
UserSettings.SecurityGroups of a VpcOnly domain (the operator always makes domains
VpcOnly, so their traffic to the custom EFS stays in the VPC), where SageMaker adds one
of its own for NFS: 4 are usable of AWS's 5. A profile of an SSO (IAM Identity Center)
domain needs its IAM Identity Center user at creation; a profile of an IAM domain must
not have one. Each problem points at the field to change. This module must not judge
share paths (paths.py) or references (rules.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from controller.desired.build import Located
from controller.desired.catalog import Catalog
from controller.errors import Problem
from controller.model import DomainSpec, ShareScope, ShareSpec, UserProfileSpec

MAX_FILE_SYSTEMS_PER_LIST = 10
# AWS's limit is 5 security groups; in VpcOnly mode SageMaker takes one for NFS.
MAX_SECURITY_GROUPS = 4


def check_studio_limits(catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    crowded: set[str] = set()
    for domain in catalog.domains.values():
        problems += _security_groups(domain)
        file_systems = _file_systems(_domain_shares(catalog, domain.spec))
        if len(file_systems) > MAX_FILE_SYSTEMS_PER_LIST:
            crowded.add(domain.spec.name)
            problems.append(domain.problem("shares", _too_many(
                f"domain {domain.spec.name}'s defaults", file_systems)))
    for profile in catalog.profiles.values():
        its_domain = catalog.domains.get(profile.spec.domain)
        if its_domain is None:
            continue  # rules.py reports the unknown domain
        problems += _single_sign_on(profile, its_domain)
        if its_domain.spec.name in crowded:
            continue  # the domain's own list is too long already: said once, there
        shares = [*(s.spec for s in catalog.user_shares_of(profile.spec)),
                  *_domain_shares(catalog, its_domain.spec)]
        file_systems = _file_systems(shares)
        if len(file_systems) > MAX_FILE_SYSTEMS_PER_LIST:
            problems.append(profile.problem("shares", _too_many(
                f"profile {profile.spec.qualified_name}", file_systems)))
    return problems


def _security_groups(domain: Located[DomainSpec]) -> list[Problem]:
    problems = []
    for region, network in sorted(domain.spec.networks.items()):
        if len(network.security_groups) > MAX_SECURITY_GROUPS:
            problems.append(domain.document.problem(
                ("spec", "network", region, "securityGroups"),
                f"lists {len(network.security_groups)} security groups; at most "
                f"{MAX_SECURITY_GROUPS} can be used: the operator makes domains VpcOnly, where "
                "SageMaker adds a security group of its own for NFS to AWS's limit of 5"))
    return problems


def _domain_shares(catalog: Catalog, domain: DomainSpec) -> list[ShareSpec]:
    found = (catalog.shares.get(name) for name in domain.shares)
    return [s.spec for s in found if s is not None and s.spec.scope is not ShareScope.USER]


def _file_systems(shares: Iterable[ShareSpec]) -> list[str]:
    return list(dict.fromkeys(share.file_system for share in shares))


def _too_many(whose: str, file_systems: list[str]) -> str:
    return (f"{whose} would attach {len(file_systems)} file systems "
            f"({', '.join(file_systems)}); SageMaker takes at most "
            f"{MAX_FILE_SYSTEMS_PER_LIST} in a CustomFileSystemConfigs list (one entry per "
            "file system, whatever the number of shares on it)")


def _single_sign_on(profile: Located[UserProfileSpec],
                    domain: Located[DomainSpec]) -> list[Problem]:
    spec, mode = profile.spec, domain.spec.auth_mode
    if mode == "SSO" and spec.sso is None:
        return [profile.problem("singleSignOn", (
            f"profile {spec.qualified_name} is in domain {domain.spec.name}, whose authMode is "
            "SSO: give singleSignOn.userValue, the user's IAM Identity Center user name "
            f"(SageMaker needs it to create the profile; domain declared at {domain.location})"))]
    if mode != "SSO" and spec.sso is not None:
        return [profile.problem("singleSignOn", (
            f"domain {domain.spec.name} signs users in with {mode}, not SSO: a profile in it "
            "cannot have an IAM Identity Center user; remove singleSignOn, or set the "
            "domain's authMode to SSO"))]
    return []
