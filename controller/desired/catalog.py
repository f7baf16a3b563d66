"""Looking specs up by name, and working out which shares each domain and profile uses.

The cross-document rules (rules.py, paths.py) need the same answers again and again:
"is there a Share called home?", "which profiles belong to research?", "which
(share, domain, profile) directories does the estate need?". The catalog answers them
over specs that may still be wrong: a name declared twice resolves to its first
declaration and a reference that does not resolve is simply left out, so that each
rule reports its own problem and no rule trips over another's. It must not report
problems itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.desired.build import Located, Specs
from controller.model import DomainSpec, FileSystemSpec, ShareScope, ShareSpec, UserProfileSpec


@dataclass(frozen=True)
class ShareUse:
    """One directory the estate needs: a share rendered for a domain (and profile)."""

    share: Located[ShareSpec]
    domain: str
    profile: str | None  # set for user scope shares only

    @property
    def who(self) -> str:
        return f"{self.domain}/{self.profile}" if self.profile else self.domain

    @property
    def rendered(self) -> str:
        return self.share.spec.render(self.domain, self.profile)


def _first_by(items: list[Located[Any]], key: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items:
        result.setdefault(key(item.spec), item)
    return result


@dataclass
class Catalog:
    file_systems: dict[str, Located[FileSystemSpec]] = field(default_factory=dict)
    shares: dict[str, Located[ShareSpec]] = field(default_factory=dict)
    domains: dict[str, Located[DomainSpec]] = field(default_factory=dict)
    profiles: dict[str, Located[UserProfileSpec]] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: Specs) -> Catalog:
        return cls(
            file_systems=_first_by(specs.file_systems, lambda s: s.name),
            shares=_first_by(specs.shares, lambda s: s.name),
            domains=_first_by(specs.domains, lambda s: s.name),
            profiles=_first_by(specs.profiles, lambda s: s.qualified_name),
        )

    def profiles_of(self, domain: str) -> list[Located[UserProfileSpec]]:
        return [p for p in self.profiles.values() if p.spec.domain == domain]

    def user_shares_of(self, profile: UserProfileSpec) -> list[Located[ShareSpec]]:
        """The user scope shares a profile gets (its domain's, then its own), resolved."""
        domain = self.domains.get(profile.domain)
        names = [*(domain.spec.shares if domain else ()), *profile.shares]
        found: list[Located[ShareSpec]] = []
        for name in names:
            share = self.shares.get(name)
            if share and share.spec.scope is ShareScope.USER and share not in found:
                found.append(share)
        return found

    def uses(self) -> Iterator[ShareUse]:
        """Every share directory the estate needs, each once, in a stable order."""
        seen: set[tuple[str, str, str | None]] = set()
        for domain_name in sorted(self.domains):
            domain = self.domains[domain_name].spec
            names = [*domain.shares]
            if domain.space_backup.share:
                names.append(domain.space_backup.share)
            profiles = sorted(self.profiles_of(domain_name), key=lambda p: p.spec.name)
            for profile in profiles:
                names.extend(profile.spec.shares)
            for name in names:
                share = self.shares.get(name)
                if share is None:
                    continue
                if share.spec.scope is not ShareScope.USER:
                    candidates: list[str | None] = [None]
                elif name in domain.shares or name == domain.space_backup.share:
                    candidates = [p.spec.name for p in profiles]
                else:
                    candidates = [p.spec.name for p in profiles if name in p.spec.shares]
                for profile_name in candidates:
                    key = (name, domain_name, profile_name)
                    if key not in seen:
                        seen.add(key)
                        yield ShareUse(share, domain_name, profile_name)

    def used_file_systems(self) -> dict[str, list[str]]:
        """File system name -> the domains that use a share on it."""
        used: dict[str, list[str]] = {}
        for use in self.uses():
            domains = used.setdefault(use.share.spec.file_system, [])
            if use.domain not in domains:
                domains.append(use.domain)
        return used
