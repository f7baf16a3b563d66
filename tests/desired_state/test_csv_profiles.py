"""Onboarding at scale: a Domain's profiles from a CSV file, checked row by row, with the
file, line and column of every problem."""

from __future__ import annotations

from pathlib import Path

from controller.desired import load_desired_state, validate_path
from controller.model import ProfileSettings
from tests.desired_state.helpers import edit, the_problem

HEADER = "name,uid,gid,tags,defaultInstanceType,idleShutdownMinutes,executionRole,shares\n"
ANALYTICS_TABLE = """\
  profiles:
    - {name: dave, uid: 200201, gid: 1001}
    - {name: erin, uid: 200202, gid: 1001}
    - {name: frank, uid: 200203, gid: 1003}
    - {name: grace, uid: 200204, gid: 1003}
"""


def with_csv(estate: Path, rows: list[str], header: str = HEADER,
             reference: str = "users/analytics.csv") -> Path:
    """The analytics domain's table replaced by a CSV file of `rows`; returns the file."""
    edit(estate / "analytics.yaml", ANALYTICS_TABLE, f"  profilesFile: {reference}\n")
    path = estate / "users" / "analytics.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def five_hundred_rows() -> list[str]:
    return ["# onboarding wave 3, reviewed in PR 812\n"] + [
        f"user-{n:03d},{300000 + n},{1001 + n % 3},team=nlp;cost-centre=4{n % 7},"
        f"ml.t3.medium,{60 + n},,\n" for n in range(500)]


def test_a_csv_of_500_profiles_is_one_valid_revision_with_each_row_a_profile(estate):
    with_csv(estate, five_hundred_rows())
    desired = load_desired_state(estate)
    analytics = list(desired.profiles_of("analytics"))
    assert len(analytics) == 500
    last = desired.profiles["analytics/user-499"]
    assert (last.posix.uid, last.posix.gid) == (300499, 1001 + 499 % 3)
    assert last.settings == ProfileSettings(
        instance_type="ml.t3.medium", idle_shutdown_minutes=559,
        tags=(("cost-centre", f"4{499 % 7}"), ("team", "nlp")))
    assert str(desired.source_of("UserProfile", "analytics/user-499")).endswith(
        "users/analytics.csv:502")


def test_one_bad_row_among_500_is_refused_with_its_line_and_column(estate):
    rows = five_hundred_rows()
    rows[301] = "user-300,12,1001,team=nlp,ml.t3.medium,120,,\n"  # on line 303
    path = with_csv(estate, rows)
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.column, problem.field) == (
        str(path), 303, 2, "uid")
    assert str(problem).startswith(f"{path}:303:2: uid: must be a POSIX user id")
    assert "found 12" in problem.message


def test_values_aws_would_refuse_are_refused_at_their_column(estate):
    path = with_csv(estate, [
        "ann,300001,1001,,ml.t3.mediun,,,\n",
        "ben,300002,1001,,,30,,\n",
        "cat,300003,1001,aws:owner=x,,,,\n",
        "dan,300004,1001,,,,arn:aws:iam::12:role/x,\n",
    ])
    found = {(p.line, p.column, p.field) for p in validate_path(estate)}
    assert found == {(2, 5, "defaultInstanceType"), (3, 6, "idleShutdownMinutes"),
                     (4, 4, 'tags["aws:owner"]'), (5, 7, "executionRole")}, found
    assert all(p.file == str(path) for p in validate_path(estate))


def test_a_header_with_an_unknown_column_says_which_and_suggests_one(estate):
    path = with_csv(estate, ["ann,300001,1001\n"], header="name,uid,gid,idleShutdown\n")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.column) == (str(path), 1, 4)
    assert "unknown column 'idleShutdown'; did you mean 'idleShutdownMinutes'?" in (
        problem.message)


def test_malformed_tags_and_extra_cells_are_refused_at_their_column(estate):
    with_csv(estate, ["ann,300001,1001,team nlp,,,,\n",
                      "ben,300002,1001,,,,,,surplus\n"])
    found = sorted((p.line, p.column, p.message.split(";")[0]) for p in validate_path(estate))
    assert found == [(2, 4, "must be key=value pairs separated by semicolons, such as "
                            "team=nlp"),
                     (3, 9, "has 9 cells but the header names 8 columns")]


def test_a_uid_shared_with_a_yaml_profile_is_reported_at_the_csv_row(estate):
    path = with_csv(estate, ["ann,300001,1001,,,,,\n", "bea,200101,1001,,,,,\n"])
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.column) == (str(path), 3, 2)
    assert "also the uid of profile research/alice" in problem.message


def test_a_profiles_file_that_is_not_there_is_a_problem_of_the_domain(estate):
    with_csv(estate, [], reference="users/analytcs.csv")
    problem = the_problem(estate)
    assert problem.file == str(estate / "analytics.yaml")
    assert problem.field == "spec.profilesFile"
    assert "no file users/analytcs.csv in the desired-state folder" in problem.message


def test_a_path_that_leaves_the_folder_is_refused_by_the_schema(estate):
    with_csv(estate, [], reference="../elsewhere.csv")
    problem = the_problem(estate)
    assert problem.field == "spec.profilesFile"
    assert "relative path of a .csv file inside the desired-state folder" in problem.message


def test_the_csv_is_part_of_the_revision(estate):
    path = with_csv(estate, ["ann,300001,1001,,,,,\n"])
    before = load_desired_state(estate).revision
    path.write_text(path.read_text() + "ben,300002,1001,,,,,\n", encoding="utf-8")
    after = load_desired_state(estate)
    assert after.revision != before
    assert "analytics/ben" in after.profiles
