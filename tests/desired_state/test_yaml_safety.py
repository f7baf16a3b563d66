"""Reading desired-state files safely: every hostile or broken input is refused fast,
with the file, line and field where it is, and never with a traceback."""

from __future__ import annotations

import time
from pathlib import Path

from controller.desired import load_desired_state, validate_path
from controller.desired.sources import MAX_FILE_BYTES
from controller.desired.yamlsafe import MAX_DOCUMENTS
from tests.desired_state.helpers import EXAMPLE, edit, line_of, the_problem, write

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def timed_problems(path: Path) -> tuple[float, list[str]]:
    started = time.perf_counter()
    problems = validate_path(path)
    return time.perf_counter() - started, [str(p) for p in problems]


def test_a_duplicate_key_is_refused_at_the_second_occurrence(estate: Path) -> None:
    edit(estate / "estate.yaml", "  mode: active-passive\n",
         "  mode: active-passive\n  mode: active-active\n")
    problem = the_problem(estate)
    assert problem.file == str(estate / "estate.yaml")
    assert problem.line == line_of(estate / "estate.yaml", "mode: active-active")
    assert problem.field == "spec.mode"
    assert "duplicate key 'mode'" in problem.message
    assert f"first at line {line_of(estate / 'estate.yaml', 'mode: active-passive')}" in (
        problem.message)


def test_a_duplicate_key_deep_inside_a_profiles_table_row_is_refused(estate: Path) -> None:
    analytics = edit(estate / "analytics.yaml", "{name: frank, uid: 200203, gid: 1003}",
                     "{name: frank, uid: 200203, gid: 1003, uid: 200299}")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(analytics), line_of(analytics, "frank"))
    assert problem.field == "spec.profiles[2].uid"
    assert "duplicate key 'uid'" in problem.message


def test_an_alias_bomb_is_refused_in_under_a_second(estate: Path) -> None:
    bomb = write(estate / "bomb.yaml", BILLION_LAUGHS)
    elapsed, problems = timed_problems(estate)
    assert problems == [f"{bomb}:1: refused: expands to more than 100,000 YAML nodes once "
                        "aliases are expanded (an alias bomb?)"]
    assert elapsed < 1.0


def test_a_recursive_alias_is_refused(estate: Path) -> None:
    loop = write(estate / "loop.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata: &self
          name: loop
          again: *self
        """)
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(loop), line_of(loop, "&self"))
    assert "recursive alias" in problem.message


def test_anchors_aliases_and_merge_keys_are_plain_yaml_and_allowed(estate: Path) -> None:
    research = estate / "research.yaml"
    edit(research, """\
    us-east-1:
      vpc: studio-vpc
      subnets: [studio-private-a, studio-private-b]
      securityGroups: [studio-nfs]
      nfsSecurityGroup: studio-nfs
    us-west-2:
      vpc: studio-vpc
      subnets: [studio-private-a, studio-private-b]
      securityGroups: [studio-nfs]
      nfsSecurityGroup: studio-nfs
""", """\
    us-east-1: &network
      vpc: studio-vpc
      subnets: [studio-private-a, studio-private-b]
      securityGroups: [studio-nfs]
      nfsSecurityGroup: studio-nfs
    us-west-2:
      <<: *network
      vpc: studio-vpc-west
""")
    state = load_desired_state(estate)
    west = state.domains["research"].networks["us-west-2"]
    assert west.vpc == "studio-vpc-west"
    assert west.subnets == ("studio-private-a", "studio-private-b")


def test_a_file_over_4_mib_is_refused_without_parsing_in_under_a_second(estate: Path) -> None:
    huge = estate / "huge.yaml"
    huge.write_bytes(b"# padding\n" * (5 * 1024 * 1024 // 10))
    elapsed, problems = timed_problems(estate)
    assert problems == [f"{huge}: is {huge.stat().st_size:,} bytes, over the 4 MiB limit for "
                        "one desired-state file; split it into several files"]
    assert huge.stat().st_size > MAX_FILE_BYTES
    assert elapsed < 1.0


def test_more_than_ten_thousand_documents_are_refused_in_under_a_second(estate: Path) -> None:
    many = estate / "many.yaml"
    many.write_text("---\n{}\n" * (MAX_DOCUMENTS + 1), encoding="utf-8")
    elapsed, problems = timed_problems(estate)
    marker_line = 2 * MAX_DOCUMENTS + 1
    assert problems == [f"{many}:{marker_line}: has more than 10,000 documents; split the "
                        "desired state into several files"]
    assert elapsed < 1.0


def test_nesting_thousands_of_levels_deep_is_refused_in_under_a_second(estate: Path) -> None:
    deep = estate / "deep.yaml"
    deep.write_text("a: " + "[" * 1_000_000 + "\n", encoding="utf-8")
    elapsed, problems = timed_problems(estate)
    # Refusal is the point, whoever refuses first: our composer's depth limit, or a
    # PyYAML that checks nesting itself ("exceeded maximum nesting depth").
    assert len(problems) == 1
    assert problems[0].startswith(f"{deep}:1: ")
    assert "nest" in problems[0]
    assert elapsed < 1.0


def test_keys_yaml_reads_as_booleans_or_numbers_are_refused(estate: Path) -> None:
    odd = write(estate / "odd.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: odd
          on: true
          200101: bob
        """)
    problems = validate_path(estate)
    assert [(p.file, p.line, p.field) for p in problems] == [
        (str(odd), 5, "metadata"), (str(odd), 6, "metadata")]
    assert 'the key "on" as a boolean; quote it' in problems[0].message
    assert 'the key "200101" as a number; quote it' in problems[1].message


def test_a_yaml_syntax_error_is_reported_at_its_line(estate: Path) -> None:
    edit(estate / "shares.yaml", "  scope: domain\n", "  scope: [domain\n")
    problem = the_problem(estate)
    assert problem.file == str(estate / "shares.yaml")
    assert problem.line == line_of(estate / "shares.yaml", "path: /teams/{domain}")
    assert problem.message.startswith("invalid YAML: while parsing a flow sequence at line "
                                      f"{line_of(estate / 'shares.yaml', 'scope: [domain')}")


def test_a_document_that_is_a_list_is_refused(estate: Path) -> None:
    listed = write(estate / "listed.yaml", """
        # a list of documents is not a document
        - apiVersion: studio-operator.io/v1alpha1
          kind: Share
        """)
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (str(listed), 2, "")
    assert problem.message == ("each document must be a mapping with apiVersion, kind, "
                               "metadata and spec; found a list")


def test_python_tags_are_refused_and_never_run(estate: Path, tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    evil = write(estate / "evil.yaml", f"""
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: evil
        spec: !!python/object/apply:os.system ["touch {planted}"]
        """)
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (str(evil), 5, "spec")
    assert problem.message.startswith("the tag !!python/object/apply:os.system is not allowed")
    assert not planted.exists()


def test_empty_documents_and_comment_only_files_are_ignored(estate: Path) -> None:
    shares = estate / "shares.yaml"
    shares.write_text("---\n" + shares.read_text(encoding="utf-8") + "---\n---\n",
                      encoding="utf-8")
    write(estate / "notes.yaml", "# nothing here yet\n")
    assert validate_path(estate) == []


def test_a_file_that_is_not_utf8_is_refused_at_the_bad_byte(estate: Path) -> None:
    latin = estate / "latin.yaml"
    latin.write_bytes(b"# comment\nmetadata:\n  name: caf\xe9\n")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (str(latin), 3, "")
    assert problem.message == ("is not valid UTF-8 (byte 0xe9 at column 12); save the file as "
                               "UTF-8 text")


def test_a_control_character_is_refused_at_its_line(estate: Path) -> None:
    bell = estate / "bell.yaml"
    bell.write_text("# ok\nname: ding\x07\n", encoding="utf-8")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(bell), 2)
    assert "(U+0007)" in problem.message


def test_a_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    problem = the_problem(missing)
    assert (problem.file, problem.line, problem.field) == (str(missing), 0, "")
    assert problem.message.startswith("no such file or folder")


def test_an_unreadable_file_is_a_problem_not_a_crash(estate: Path) -> None:
    dangling = estate / "gone.yaml"
    dangling.symlink_to(estate / "does-not-exist.yaml")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(dangling), 0)
    assert problem.message.startswith("cannot be read: No such file or directory")


def test_a_folder_without_yaml_files_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path / "README.md", "# not desired state\n")
    problem = the_problem(tmp_path)
    assert problem.file == str(tmp_path)
    assert "contains no *.yaml or *.yml files" in problem.message


def test_hidden_folders_and_other_files_are_not_desired_state(estate: Path) -> None:
    write(estate / ".github" / "workflows" / "ci.yml", "on: [push]\njobs: {}\n")
    write(estate / "README.md", "# the estate\n")
    write(estate / "teams" / "more.yml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: scratch
        spec:
          fileSystem: studio-efs
          scope: organisation
          path: /shared/scratch
        """)
    state = load_desired_state(estate)
    assert set(state.shares) == {"home", "team", "datasets", "scratch"}


def test_one_file_holding_every_document_can_be_given_instead_of_a_folder(
        tmp_path: Path) -> None:
    combined = tmp_path / "estate.yaml"
    combined.write_text("\n---\n".join(p.read_text(encoding="utf-8")
                                       for p in sorted(EXAMPLE.glob("*.yaml"))),
                        encoding="utf-8")
    state = load_desired_state(combined)
    assert (len(state.file_systems), len(state.shares), len(state.domains),
            len(state.profiles)) == (1, 3, 2, 7)
