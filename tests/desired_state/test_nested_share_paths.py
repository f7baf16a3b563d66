"""Share directories never nest: no share's directory (as rendered for every domain and
profile) lies inside another's, or inside a folder the operator or EFS keeps for itself.

A team share at /home/{domain} above the homes at /home/{domain}/{profile} let a member
of the team move alice's home aside and make his own, which the operator then adopted;
a share inside a home, or under the recovery folder, hands one party's tree to another.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from controller.desired import validate_path
from tests.desired_state.helpers import edit, line_of, the_problem, write
from tests.desired_state.test_cross_document_rules import add_share


def _attach(estate: Path, share: str, domain: str = "research") -> None:
    edit(estate / f"{domain}.yaml", "shares: [home, team, datasets]",
         f"shares: [home, team, datasets, {share}]")


def test_a_domain_share_above_the_homes_is_refused_naming_both_paths(estate: Path) -> None:
    extra = add_share(estate, "everyone", "domain", "/home/{domain}")
    _attach(estate, "everyone")
    problem = the_problem(estate)
    shares = estate / "shares.yaml"
    assert (problem.file, problem.line, problem.field) == (
        str(shares), line_of(shares, "/home/{domain}/{profile}"), "spec.path")
    assert "/home/research/alice" in problem.message
    assert "/home/research" in problem.message
    assert "'everyone'" in problem.message
    assert f"{extra}:{line_of(extra, 'path:')}" in problem.message


def test_a_share_inside_one_profiles_home_is_refused(estate: Path) -> None:
    extra = add_share(estate, "sneaky", "organisation", "/home/research/bob/inbox")
    _attach(estate, "sneaky", "analytics")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(extra), line_of(extra, "path:"), "spec.path")
    assert "renders to /home/research/bob/inbox for analytics" in problem.message
    assert "inside /home/research/bob" in problem.message
    assert "share 'home' for research/bob" in problem.message


@pytest.mark.parametrize("path", [
    "/.studio-operator-recovery/research",
    "/.studio-operator-recovery",
    "/.studio-operator-journal",
    "/efs-replication-lost/found",
])
def test_a_share_in_a_folder_the_operator_or_efs_keeps_is_refused(estate: Path,
                                                                    path: str) -> None:
    extra = add_share(estate, "reserved", "organisation", path)
    _attach(estate, "reserved")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(extra), line_of(extra, "path:"), "spec.path")
    assert f"renders to {path}" in problem.message
    assert "reserved" in problem.message


def test_an_organisation_share_above_a_domain_share_is_refused(estate: Path) -> None:
    add_share(estate, "all-teams", "organisation", "/teams")
    _attach(estate, "all-teams", "analytics")
    problems = validate_path(estate)
    assert len(problems) == 1, problems
    message = problems[0].message
    assert "renders to /teams/analytics for analytics, inside /teams" in message
    assert "'all-teams'" in message and "and 1 more" in message  # /teams/research


def test_shares_on_different_file_systems_may_use_the_same_tree(estate: Path) -> None:
    write(estate / "zz-other-fs.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: FileSystem
        metadata:
          name: other-efs
        spec:
          replicate: true
          regions:
            us-east-1:
              nameTag: other-efs
        """)
    add_share(estate, "everyone", "domain", "/home/{domain}", file_system="other-efs")
    _attach(estate, "everyone")
    assert validate_path(estate) == []


def test_neighbours_with_a_common_prefix_are_not_nested(estate: Path) -> None:
    add_share(estate, "homes-archive", "domain", "/home/{domain}-archive")
    _attach(estate, "homes-archive")
    add_share(estate, "teamwork", "domain", "/teams-{domain}")
    _attach(estate, "teamwork", "analytics")
    assert validate_path(estate) == []


def test_the_space_backup_share_and_its_per_profile_folders_are_not_an_overlap(
        estate: Path) -> None:
    add_share(estate, "space-backups", "domain", "/backups/{domain}")
    edit(estate / "research.yaml", "  shares: [home, team, datasets]\n",
         "  shares: [home, team, datasets, space-backups]\n"
         "  spaceBackup: {enabled: true, share: space-backups}\n")
    assert validate_path(estate) == []


def test_a_share_at_a_profiles_backup_folder_is_refused(estate: Path) -> None:
    add_share(estate, "space-backups", "domain", "/backups/{domain}")
    edit(estate / "research.yaml", "  shares: [home, team, datasets]\n",
         "  shares: [home, team, datasets, space-backups]\n"
         "  spaceBackup: {enabled: true, share: space-backups}\n")
    add_share(estate, "mirror", "user", "/backups/{domain}/{profile}/mirror")
    _attach(estate, "mirror", "analytics")
    edit(estate / "analytics.yaml", "  shares: [home, team, datasets, mirror]\n",
         "  shares: [home, team, datasets, mirror, space-backups]\n")
    problems = validate_path(estate)
    assert problems and all("'space-backups'" in p.message for p in problems)


def test_nesting_is_checked_quickly_on_two_thousand_profiles(estate: Path) -> None:
    rows = "".join(f"    - {{name: user{n:04d}, uid: {210000 + n}, gid: 1001}}\n"
                   for n in range(2000))
    analytics = estate / "analytics.yaml"
    analytics.write_text(analytics.read_text() + rows)
    started = time.perf_counter()
    assert validate_path(estate) == []
    clean = time.perf_counter() - started
    add_share(estate, "everyone", "domain", "/home/{domain}")
    _attach(estate, "everyone", "analytics")
    started = time.perf_counter()
    problems = validate_path(estate)
    nested = time.perf_counter() - started
    # One problem per pair of shares, not one per profile.
    assert len(problems) == 1 and "and 2003 more" in problems[0].message
    assert clean < 10 and nested < 10
