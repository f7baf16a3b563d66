"""Cross-document rules: what no single document's schema can see, each reported at
the line of the field that refers or is wrong, naming the other party."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.desired import load_desired_state, validate_path
from controller.desired.paths import share_root, template_problems
from controller.model import FileSystemCreateSettings, ShareScope
from tests.desired_state.helpers import edit, line_of, the_problem, write

SHARE = """
apiVersion: studio-operator.io/v1alpha1
kind: Share
metadata:
  name: {name}
spec:
  fileSystem: {file_system}
  scope: {scope}
  path: {path}
"""
GRACE_ROW = "    - {name: grace, uid: 200204, gid: 1003}\n"
ALICE_ROW = "    - {name: alice, uid: 200205, gid: 1003}\n"


def add_share(estate: Path, name: str, scope: str, path: str,
              file_system: str = "studio-efs") -> Path:
    # "zz-" sorts after the example's files, so the example's declarations come first.
    return write(estate / f"zz-share-{name}.yaml", SHARE.format(
        name=name, scope=scope, path=path, file_system=file_system))


def test_there_must_be_an_estate(estate: Path) -> None:
    (estate / "estate.yaml").unlink()
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (str(estate), 0, "")
    assert problem.message.startswith("no Estate document found; exactly one is required")


def test_a_second_estate_is_refused_naming_the_first(estate: Path) -> None:
    second = write(estate / "second.yaml", (estate / "estate.yaml").read_text().replace(
        "name: ml-platform", "name: other"))
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(second), line_of(second, "name: other"), "metadata.name")
    assert problem.message == ("a second Estate; exactly one is allowed and 'ml-platform' is "
                               f"declared at {estate / 'estate.yaml'}:6")


def test_the_active_region_must_be_one_of_the_two(estate: Path) -> None:
    estate_file = edit(estate / "estate.yaml", "activeRegion: us-east-1",
                       "activeRegion: eu-west-1")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(estate_file, "activeRegion: eu-west-1"),
                                             "spec.activeRegion")
    assert problem.message == ("must be the primary region (us-east-1) or the replica region "
                               "(us-west-2); found eu-west-1")


def test_primary_and_replica_must_differ(estate: Path) -> None:
    estate_file = edit(estate / "estate.yaml", "replica: us-west-2", "replica: us-east-1")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(estate_file, "replica:"),
                                             "spec.regions.replica")
    assert problem.message.startswith("must differ from regions.primary (us-east-1)")


def test_a_share_on_an_undeclared_file_system_is_refused(estate: Path) -> None:
    shares = edit(estate / "shares.yaml", "  fileSystem: studio-efs\n  scope: domain",
                  "  fileSystem: studio-fs\n  scope: domain")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(shares, "studio-fs"), "spec.fileSystem")
    assert problem.message == ("no FileSystem named 'studio-fs'; did you mean 'studio-efs'? "
                               "declared: studio-efs")


def test_a_domain_listing_an_undeclared_share_is_refused_at_the_list_item(estate: Path) -> None:
    research = edit(estate / "research.yaml", "shares: [home, team, datasets]",
                    "shares: [home, teams, datasets]")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "teams"), "spec.shares[1]")
    assert problem.message == ("no Share named 'teams'; did you mean 'team'? declared: "
                               "datasets, home, team")


def test_a_profile_in_an_undeclared_domain_is_refused(estate: Path) -> None:
    research = edit(estate / "research.yaml", "name: carol\nspec:\n  domain: research",
                    "name: carol\nspec:\n  domain: science")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "domain: science"),
                                             "spec.domain")
    assert problem.message == "no Domain named 'science'; declared: analytics, research"


def test_a_profile_may_only_add_user_scope_shares(estate: Path) -> None:
    analytics = edit(estate / "analytics.yaml", "{name: erin, uid: 200202, gid: 1001}",
                     "{name: erin, uid: 200202, gid: 1001, shares: [datasets]}")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(analytics, "erin"),
                                             "spec.profiles[1].shares[0]")
    assert problem.message.startswith("share 'datasets' has scope organisation; a profile can "
                                      "only add user scope shares")


def test_a_profile_document_listing_an_undeclared_share_is_refused(estate: Path) -> None:
    research = edit(estate / "research.yaml", "name: bob\nspec:\n  domain: research\n",
                    "name: bob\nspec:\n  domain: research\n  shares: [scratch]\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "[scratch]"), "spec.shares[0]")
    assert problem.message == "no Share named 'scratch'; declared: datasets, home, team"


def test_space_backup_must_name_a_declared_share(estate: Path) -> None:
    research = edit(estate / "research.yaml", "  apps: [JupyterLab, CodeEditor]\n",
                    "  apps: [JupyterLab, CodeEditor]\n  spaceBackup:\n    share: backups\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "share: backups"),
                                             "spec.spaceBackup.share")
    assert problem.message.startswith("no Share named 'backups'")


def test_share_names_are_unique(estate: Path) -> None:
    copy = add_share(estate, "team", "domain", "/groups/{domain}")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(copy), line_of(copy, "name: team"), "metadata.name")
    shares = estate / "shares.yaml"
    assert problem.message == ("duplicate Share name 'team'; first declared at "
                               f"{shares}:{line_of(shares, 'name: team')}")


def test_a_profile_is_unique_in_its_domain_across_documents_and_the_table(estate: Path) -> None:
    analytics = estate / "analytics.yaml"
    write(estate / "dave.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: UserProfile
        metadata:
          name: dave
        spec:
          domain: analytics
          posix: {uid: 200299, gid: 1001}
        """)
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(estate / "dave.yaml"), 4, "metadata.name")
    assert problem.message == ("profile 'dave' is declared twice in domain 'analytics'; first "
                               f"at {analytics}:{line_of(analytics, 'dave')}")


def test_the_same_profile_name_in_two_domains_is_two_profiles(estate: Path) -> None:
    edit(estate / "analytics.yaml", GRACE_ROW, GRACE_ROW + ALICE_ROW)
    state = load_desired_state(estate)
    assert {"analytics/alice", "research/alice"} <= set(state.profiles)


def test_two_profiles_with_user_shares_on_one_file_system_need_distinct_uids(
        estate: Path) -> None:
    analytics, research = estate / "analytics.yaml", estate / "research.yaml"
    edit(analytics, "{name: erin, uid: 200202", "{name: erin, uid: 200102")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(research), line_of(research, "uid: 200102"), "spec.posix.uid")
    assert problem.message == (
        f"uid 200102 is also the uid of profile analytics/erin ({analytics}:"
        f"{line_of(analytics, 'erin')}); profiles analytics/erin and research/bob both have "
        "user shares on file system 'studio-efs', so they need distinct uids")


def test_profiles_without_user_shares_on_the_same_file_system_may_share_a_uid(
        estate: Path) -> None:
    write(estate / "labs.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Domain
        metadata:
          name: labs
        spec:
          executionRole: studio-execution-role
          shares: [team]
          network:
            us-east-1: {vpc: labs-vpc, subnets: [labs-a]}
            us-west-2: {vpc: labs-vpc, subnets: [labs-a]}
          profiles:
            - {name: zoe, uid: 200101, gid: 1001}
        """)
    assert validate_path(estate) == []


@pytest.mark.parametrize(("scope", "path", "expected"), [
    ("organisation", "shared/data", "must be an absolute path starting with /"),
    ("organisation", "/shared/../etc", "must not contain . or .. segments"),
    ("organisation", "/shared/./data", "must not contain . or .. segments"),
    ("organisation", "/shared//data", "must not contain // (an empty segment)"),
    ("organisation", "/shared/data/", "must not end with /"),
    ("organisation", '"/shared\\\\data"', "must not contain a backslash"),
    ("organisation", '"/shared/my data"', "contains characters that are not allowed (' ')"),
    ("organisation", "/shared/{team}", "uses {team}; only the placeholders {domain} and "
                                       "{profile} exist"),
    ("organisation", "/shared/{domain}", "an organisation scope share's path must not contain"),
    ("user", "/home/{domain}", "a user scope share's path must contain {profile}"),
    ("domain", "/teams/all", "a domain scope share's path must contain {domain}"),
    ("domain", "/teams/{domain}/{profile}", "a domain scope share's path must not contain "
                                            "{profile}"),
])
def test_share_path_templates_are_held_to_a_safe_form(estate: Path, scope: str, path: str,
                                                      expected: str) -> None:
    share = add_share(estate, "extra", scope, path)
    edit(estate / "research.yaml", "shares: [home, team, datasets]",
         "shares: [home, team, datasets, extra]")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(share), line_of(share, "path:"), "spec.path")
    assert expected in problem.message


def test_two_profiles_rendering_to_one_directory_are_refused(estate: Path) -> None:
    shares = edit(estate / "shares.yaml", "path: /home/{domain}/{profile}",
                  "path: /home/{profile}")
    edit(estate / "analytics.yaml", GRACE_ROW, GRACE_ROW + ALICE_ROW)
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(shares, "/home/{profile}"), "spec.path")
    assert problem.message.startswith(
        "renders to /home/alice for research/alice, the same directory on file system "
        "'studio-efs' as share 'home' for analytics/alice")


def test_path_template_helpers_agree_on_the_example_shares() -> None:
    assert template_problems("/home/{domain}/{profile}", ShareScope.USER) == []
    assert template_problems("/teams/{domain}", ShareScope.DOMAIN) == []
    assert share_root("/home/{domain}/{profile}") == "/home"
    assert share_root("/shared/datasets") == "/shared/datasets"


def test_every_domain_needs_a_network_in_both_estate_regions(estate: Path) -> None:
    research = edit(estate / "research.yaml", """\
    us-west-2:
      vpc: studio-vpc
      subnets: [studio-private-a, studio-private-b]
      securityGroups: [studio-nfs]
---""", "---")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(research), line_of(research, "network:"), "spec.network")
    assert problem.message == (
        "has no network for us-west-2; a domain needs one in both estate regions (us-east-1, "
        "us-west-2) because either can become active, and failover creates the domain in the "
        "standby region")


def test_a_network_for_a_region_outside_the_estate_is_refused(estate: Path) -> None:
    research = edit(estate / "research.yaml", "  network:\n", (
        "  network:\n    eu-west-1: {vpc: v, subnets: [s]}\n"))
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "eu-west-1"),
                                             "spec.network.eu-west-1")
    assert problem.message.startswith("eu-west-1 is not an estate region")


@pytest.mark.parametrize(("placement", "field", "expected"), [
    ("{fileSystemId: fs-0123456789abcdef0, nameTag: studio-efs}", "spec.regions.us-east-1",
     "give exactly one of fileSystemId (adopt that file system) or nameTag"),
    ("{}", "spec.regions.us-east-1", "give exactly one of fileSystemId"),
    ("{fileSystemId: fs-0123456789abcdef0, create: true}", "spec.regions.us-east-1.create",
     "create needs nameTag"),
])
def test_a_placement_names_its_file_system_exactly_one_way(estate: Path, placement: str,
                                                           field: str, expected: str) -> None:
    file_systems = edit(estate / "filesystems.yaml", "    us-east-1:\n      nameTag: studio-efs",
                        f"    us-east-1: {placement}")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(file_systems, "us-east-1:"), field)
    assert problem.message.startswith(expected)


def test_a_placement_outside_the_estate_regions_is_refused(estate: Path) -> None:
    file_systems = edit(estate / "filesystems.yaml", "      nameTag: studio-efs\n",
                        "      nameTag: studio-efs\n    eu-west-1: {nameTag: studio-efs}\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(file_systems, "eu-west-1"),
                                             "spec.regions.eu-west-1")
    assert problem.message.startswith("eu-west-1 is not an estate region")


def test_without_replication_a_used_file_system_needs_both_regions(estate: Path) -> None:
    file_systems = edit(estate / "filesystems.yaml", "replicate: true", "replicate: false")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(file_systems, "regions:"), "spec.regions")
    assert problem.message.startswith("needs a placement for us-west-2: domain(s) analytics, "
                                      "research use shares on it")


def test_with_replication_the_primary_placement_is_still_needed(estate: Path) -> None:
    file_systems = edit(estate / "filesystems.yaml", "    us-east-1:\n", "    us-west-2:\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(file_systems, "regions:"), "spec.regions")
    assert problem.message.startswith("needs a placement for the primary region us-east-1")


def test_a_file_system_created_by_name_tag_in_both_regions_builds(estate: Path) -> None:
    edit(estate / "filesystems.yaml", "replicate: true", "replicate: false")
    edit(estate / "filesystems.yaml", "      nameTag: studio-efs\n", (
        "      nameTag: studio-efs\n    us-west-2:\n      nameTag: studio-efs-west\n"
        "      create: {throughputMode: bursting}\n"))
    placements = load_desired_state(estate).file_systems["studio-efs"].placements
    assert placements["us-west-2"].create == FileSystemCreateSettings(throughput_mode="bursting")
    assert placements["us-east-1"].create is None


def test_fencing_without_a_takeover_is_a_documented_estate_switch(estate: Path) -> None:
    edit(estate / "estate.yaml", "    strategy: promote\n",
         "    strategy: promote\n    fenceWithoutTakeover: true\n")
    assert load_desired_state(estate).estate.fence_without_takeover is True
    edit(estate / "estate.yaml", "fenceWithoutTakeover: true", "fenceWithoutTakeover: yes-please")
    assert "fenceWithoutTakeover" in the_problem(estate).field


def test_fencing_without_a_takeover_is_refused_in_active_active_mode(estate: Path) -> None:
    edit(estate / "estate.yaml", "    strategy: promote\n",
         "    strategy: promote\n    fenceWithoutTakeover: true\n")
    edit(estate / "estate.yaml", "mode: active-passive", "mode: active-active")
    problem = the_problem(estate)
    assert (problem.field, problem.line) == (
        "spec.failover.fenceWithoutTakeover",
        line_of(estate / "estate.yaml", "fenceWithoutTakeover"))
    assert "active-passive estates only" in problem.message
