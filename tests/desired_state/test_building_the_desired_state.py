"""A valid desired state becomes typed model values, with a stable revision and the
place each resource was declared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.desired import load_desired_state, validate_path
from controller.errors import DesiredStateError
from controller.model import (
    FailoverStrategy,
    Mode,
    NetworkSpec,
    Posix,
    ShareScope,
    SourceLocation,
    UserProfileSpec,
)
from tests.desired_state.helpers import EXAMPLE, edit, line_of, write


def test_the_example_estate_is_valid_and_builds_every_resource() -> None:
    assert validate_path(EXAMPLE) == []
    state = load_desired_state(EXAMPLE)
    assert (len(state.file_systems), len(state.shares), len(state.domains),
            len(state.profiles)) == (1, 3, 2, 7)
    assert sorted(state.profiles) == [
        "analytics/dave", "analytics/erin", "analytics/frank", "analytics/grace",
        "research/alice", "research/bob", "research/carol"]


def test_the_estate_carries_regions_mode_failover_and_safety() -> None:
    estate = load_desired_state(EXAMPLE).estate
    assert (estate.name, estate.primary_region, estate.replica_region,
            estate.active_region) == ("ml-platform", "us-east-1", "us-west-2", "us-east-1")
    assert (estate.mode, estate.failover_strategy) == (Mode.ACTIVE_PASSIVE,
                                                       FailoverStrategy.PROMOTE)
    assert estate.safety.max_removal_fraction == pytest.approx(0.10)


def test_shares_have_octal_modes_as_ints_and_optional_owners() -> None:
    shares = load_desired_state(EXAMPLE).shares
    assert (shares["home"].scope, shares["home"].mode, shares["home"].owner) == (
        ShareScope.USER, 0o700, None)
    assert shares["team"].mode == 0o2770
    assert (shares["datasets"].mode, shares["datasets"].owner) == (0o775, Posix(10000, 1001))


def test_table_rows_and_profile_documents_build_the_same_profile_type() -> None:
    state = load_desired_state(EXAMPLE)
    assert state.profiles["analytics/frank"] == UserProfileSpec(
        name="frank", domain="analytics", posix=Posix(200203, 1003))
    assert state.profiles["research/carol"] == UserProfileSpec(
        name="carol", domain="research", posix=Posix(200103, 1002))


def test_domains_carry_networks_per_region_and_defaults() -> None:
    research = load_desired_state(EXAMPLE).domains["research"]
    assert research.networks["us-west-2"] == NetworkSpec(
        vpc="studio-vpc", subnets=("studio-private-a", "studio-private-b"),
        security_groups=("studio-nfs",), nfs_security_group="studio-nfs")
    assert (research.default_posix, research.shares, research.apps) == (
        Posix(200001, 1001), ("home", "team", "datasets"), ("JupyterLab", "CodeEditor"))
    assert research.space_backup.enabled is False


def test_omitted_optional_fields_take_the_documented_defaults(tmp_path: Path) -> None:
    write(tmp_path / "estate.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Estate
        metadata: {name: small}
        spec:
          regions: {primary: eu-west-1, replica: eu-central-1}
          activeRegion: eu-central-1
        ---
        apiVersion: studio-operator.io/v1alpha1
        kind: Domain
        metadata: {name: lab}
        spec:
          executionRole: arn:aws:iam::123456789012:role/studio
          spaceBackup: {share: home}
          network:
            eu-west-1: {vpc: vpc-1, subnets: [subnet-1]}
            eu-central-1: {vpc: vpc-2, subnets: [subnet-2]}
        ---
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata: {name: home}
        spec: {fileSystem: efs, scope: user, path: "/home/{profile}"}
        ---
        apiVersion: studio-operator.io/v1alpha1
        kind: FileSystem
        metadata: {name: efs}
        spec:
          regions:
            eu-west-1: {fileSystemId: fs-0123456789abcdef0}
            eu-central-1: {nameTag: efs, create: true}
        """)
    state = load_desired_state(tmp_path)
    assert (state.estate.mode, state.estate.failover_strategy) == (Mode.ACTIVE_PASSIVE,
                                                                   FailoverStrategy.PROMOTE)
    assert state.estate.safety.max_removal_fraction == pytest.approx(0.10)
    assert state.estate.standby_region() == "eu-west-1"
    lab = state.domains["lab"]
    assert (lab.auth_mode, lab.default_posix, lab.apps) == ("IAM", Posix(200001, 1001),
                                                            ("JupyterLab", "CodeEditor"))
    assert (lab.space_backup.enabled, lab.space_backup.share) == (True, "home")
    assert state.shares["home"].mode == 0o700
    file_system = state.file_systems["efs"]
    assert (file_system.replicate, file_system.replication_lag_threshold_seconds) == (False, 1800)
    assert file_system.placements["eu-central-1"].create is not None


def test_each_resource_remembers_where_it_was_declared() -> None:
    state = load_desired_state(EXAMPLE)
    analytics = EXAMPLE / "analytics.yaml"
    assert state.source_of("UserProfile", "analytics/frank") == SourceLocation(
        str(analytics), line_of(analytics, "frank"))
    assert state.source_of("Share", "team") == SourceLocation(
        str(EXAMPLE / "shares.yaml"), line_of(EXAMPLE / "shares.yaml", "name: team"))
    assert state.source_of("Estate", "ml-platform") == SourceLocation(
        str(EXAMPLE / "estate.yaml"), 6)
    # The estate, its file system, 3 shares, 2 domains, 7 profiles, the snapshot policy,
    # the notebook instance.
    assert len(state.sources) == 1 + 1 + 3 + 2 + 7 + 1 + 1


def test_the_revision_is_a_stable_hash_of_file_names_and_contents(estate: Path) -> None:
    first = load_desired_state(estate).revision
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 12
    assert load_desired_state(estate).revision == first
    assert load_desired_state(EXAMPLE).revision == first  # same files, other folder
    assert load_desired_state(os.path.relpath(estate)).revision == first
    edit(estate / "estate.yaml", "maxRemovalPercent: 10", "maxRemovalPercent: 20")
    changed = load_desired_state(estate).revision
    assert changed != first
    (estate / "shares.yaml").rename(estate / "shares2.yaml")
    assert load_desired_state(estate).revision != changed


def test_a_given_revision_names_the_state(estate: Path) -> None:
    assert load_desired_state(estate, revision="git:0123abc").revision == "git:0123abc"


def test_an_invalid_state_raises_with_every_problem_sorted(estate: Path) -> None:
    edit(estate / "research.yaml", "name: bob", "name: Bob_")
    edit(estate / "analytics.yaml", "authMode: IAM", "authMode: LDAP")
    with pytest.raises(DesiredStateError) as raised:
        load_desired_state(estate)
    problems = raised.value.problems
    assert [(Path(p.file).name, p.field) for p in problems] == [
        ("analytics.yaml", "spec.authMode"), ("research.yaml", "metadata.name")]
    assert str(raised.value).splitlines() == [str(p) for p in problems]
