"""Studio's limits and sign-in rules, refused by `studioctl validate` with file, line and
field before anything reaches AWS: at most 10 file systems per CustomFileSystemConfigs
list as the operator renders it, at most 4 security groups per domain network (VpcOnly:
SageMaker adds the fifth), and an IAM Identity Center user exactly on SSO profiles."""

from __future__ import annotations

from pathlib import Path

from controller.desired import load_desired_state, validate_path
from controller.model import SingleSignOnSpec
from tests.desired_state.helpers import edit, line_of, the_problem, write

FILE_SYSTEM = """
apiVersion: studio-operator.io/v1alpha1
kind: FileSystem
metadata:
  name: {name}
spec:
  regions:
    us-east-1:
      fileSystemId: fs-{index:08x}
    us-west-2:
      fileSystemId: fs-{other:08x}
---
apiVersion: studio-operator.io/v1alpha1
kind: Share
metadata:
  name: {name}-share
spec:
  fileSystem: {name}
  scope: {scope}
  path: {path}
"""


def add_file_systems(estate: Path, count: int, scope: str = "domain") -> list[str]:
    """`count` more file systems, each with one share of `scope`; the share names."""
    names = []
    for index in range(count):
        name = f"extra-{index}"
        path = "/data/{domain}" if scope == "domain" else "/data/{domain}/{profile}"
        write(estate / f"zz-{name}.yaml", FILE_SYSTEM.format(
            name=name, index=index + 1, other=index + 101, scope=scope, path=path))
        names.append(f"{name}-share")
    return names


def test_a_domain_network_with_five_security_groups_is_refused(estate: Path) -> None:
    research = estate / "research.yaml"
    edit(research, "    us-east-1:\n      vpc: studio-vpc\n      subnets: [studio-private-a, "
         "studio-private-b]\n      securityGroups: [studio-nfs]",
         "    us-east-1:\n      vpc: studio-vpc\n      subnets: [studio-private-a, "
         "studio-private-b]\n      securityGroups: [studio-nfs, a, b, c, d]")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(research), line_of(research, "securityGroups: [studio-nfs, a, b, c, d]"),
        "spec.network.us-east-1.securityGroups")
    assert "at most 4" in problem.message and "VpcOnly" in problem.message


def test_four_security_groups_are_accepted(estate: Path) -> None:
    edit(estate / "research.yaml", "    us-east-1:\n      vpc: studio-vpc\n      subnets: "
         "[studio-private-a, studio-private-b]\n      securityGroups: [studio-nfs]",
         "    us-east-1:\n      vpc: studio-vpc\n      subnets: [studio-private-a, "
         "studio-private-b]\n      securityGroups: [studio-nfs, a, b, c]")
    assert validate_path(estate) == []


def test_a_domain_whose_shares_span_eleven_file_systems_is_refused_once(estate: Path) -> None:
    shares = add_file_systems(estate, 10)
    research = edit(estate / "research.yaml", "  shares: [home, team, datasets]",
                    f"  shares: [home, team, datasets, {', '.join(shares)}]")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(research), line_of(research, "  shares: [home, team, datasets, extra-0"),
        "spec.shares")
    assert "11 file systems" in problem.message and "at most 10" in problem.message


def test_ten_file_systems_with_many_shares_each_are_accepted(estate: Path) -> None:
    shares = add_file_systems(estate, 9)
    edit(estate / "research.yaml", "  shares: [home, team, datasets]",
         f"  shares: [home, team, datasets, {', '.join(shares)}]")
    # home, team and datasets are three shares on one file system: one entry, not three.
    assert validate_path(estate) == []


def test_a_profile_whose_own_shares_make_eleven_file_systems_is_refused(estate: Path) -> None:
    domain_shares = add_file_systems(estate, 8)
    edit(estate / "research.yaml", "  shares: [home, team, datasets]",
         f"  shares: [home, team, datasets, {', '.join(domain_shares)}]")
    for index in (8, 9):
        write(estate / f"zz-user-{index}.yaml", FILE_SYSTEM.format(
            name=f"extra-{index}", index=index + 1, other=index + 101, scope="user",
            path="/users/{domain}/{profile}"))
    research = edit(estate / "research.yaml", "  name: alice\nspec:\n  domain: research\n",
                    "  name: alice\nspec:\n  domain: research\n"
                    "  shares: [extra-8-share, extra-9-share]\n")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(research), line_of(research, "shares: [extra-8-share, extra-9-share]"),
        "spec.shares")
    assert "profile research/alice" in problem.message and "11 file systems" in problem.message


def test_profiles_of_an_sso_domain_need_their_identity_center_user(estate: Path) -> None:
    research = edit(estate / "research.yaml", "  authMode: IAM\n  executionRole",
                    "  authMode: SSO\n  executionRole")
    problems = validate_path(estate)
    assert [(p.file, p.field) for p in problems] == [(str(research), "spec.singleSignOn")] * 3
    assert all("authMode is SSO" in p.message and "singleSignOn.userValue" in p.message
               for p in problems)
    text = research.read_text()
    for name in ("alice", "bob", "carol"):
        text = text.replace(f"  name: {name}\nspec:\n",
                            f"  name: {name}\nspec:\n  singleSignOn:\n"
                            f"    userValue: {name}@example.com\n")
    research.write_text(text)
    state = load_desired_state(estate)
    assert state.profiles["research/alice"].sso == SingleSignOnSpec("alice@example.com",
                                                                    "UserName")


def test_table_rows_carry_the_identity_center_user_too(estate: Path) -> None:
    analytics = estate / "analytics.yaml"
    text = analytics.read_text().replace("authMode: IAM", "authMode: SSO")
    for name in ("dave", "erin", "frank", "grace"):
        text = text.replace(f"{{name: {name}, ", f"{{singleSignOn: {{userValue: {name}}}, "
                                                 f"name: {name}, ")
    analytics.write_text(text.replace("{singleSignOn: {userValue: grace}, ", "{"))
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(analytics, "{name: grace"),
                                             "spec.profiles[3].singleSignOn")
    analytics.write_text(text)
    assert load_desired_state(estate).profiles["analytics/dave"].sso == SingleSignOnSpec("dave")


def test_an_iam_domain_refuses_an_identity_center_user(estate: Path) -> None:
    research = edit(estate / "research.yaml", "  name: bob\nspec:\n",
                    "  name: bob\nspec:\n  singleSignOn: {userValue: bob@example.com}\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (
        line_of(research, "singleSignOn: {userValue: bob@example.com}"), "spec.singleSignOn")
    assert "signs users in with IAM, not SSO" in problem.message
