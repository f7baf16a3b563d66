"""Per-document validation: the JSON Schemas in manifests/schemas/ decide what one
document may say, and every violation is reported at its field's line with what is
allowed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from controller.desired import validate_path
from controller.desired.schema import MANIFESTS_ENV, schema_folder
from controller.model import API_VERSION
from tests.desired_state.helpers import edit, line_of, the_problem, write

SCHEMAS = Path(__file__).resolve().parents[2] / "manifests" / "schemas"
KIND_SCHEMAS = ["estate", "filesystem", "share", "domain", "userprofile"]


def test_an_unknown_field_is_refused_with_a_suggestion_and_the_fields_allowed(
        estate: Path) -> None:
    research = edit(estate / "research.yaml", "  authMode: IAM\n", "  authmode: IAM\n")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(research), line_of(research, "authmode"))
    assert problem.field == "spec.authmode"
    assert problem.message == (
        "unknown field 'authmode'; did you mean 'authMode'? allowed here: apps, authMode, "
        "defaultPosix, executionRole, network, profiles, profilesFile, shares, spaceBackup, "
        "suspend")


def test_a_missing_required_field_is_reported_at_its_parent_with_its_description(
        estate: Path) -> None:
    analytics = edit(estate / "analytics.yaml", "  executionRole: studio-execution-role\n", "")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(analytics), line_of(analytics, "spec:"))
    assert problem.field == "spec.executionRole"
    assert problem.message.startswith("is required: The IAM role Studio apps run as")


def test_a_value_outside_an_enum_lists_the_values_allowed(estate: Path) -> None:
    estate_file = edit(estate / "estate.yaml", "mode: active-passive", "mode: active-standby")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(estate_file, "mode:"), "spec.mode")
    assert problem.message == ('must be one of "active-passive", "active-active"; found '
                               '"active-standby"')


def test_a_uid_out_of_range_in_a_profiles_table_is_located_at_its_row(estate: Path) -> None:
    analytics = edit(estate / "analytics.yaml", "{name: frank, uid: 200203",
                     "{name: frank, uid: 500")
    problem = the_problem(estate)
    assert (problem.file, problem.line) == (str(analytics), line_of(analytics, "frank"))
    assert problem.field == "spec.profiles[2].uid"
    assert problem.message == ("must be a POSIX user id: a whole number from 10000 to 4000000 "
                               "(the range SageMaker allows for custom POSIX users); found 500")


def test_a_gid_out_of_range_in_a_user_profile_document_is_refused(estate: Path) -> None:
    research = estate / "research.yaml"
    edit(research, "    uid: 200103\n    gid: 1002\n", "    uid: 200103\n    gid: 99\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "gid: 99"), "spec.posix.gid")
    assert "from 1001 to 4000000" in problem.message and problem.message.endswith("found 99")


def test_a_name_sagemaker_would_refuse_is_refused(estate: Path) -> None:
    research = edit(estate / "research.yaml", "name: bob", "name: bob_smith")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "bob_smith"), "metadata.name")
    assert problem.message == ("must be a valid SageMaker name: 1-63 letters, digits and "
                               "hyphens, starting and ending with a letter or digit; found "
                               '"bob_smith"')


def test_a_name_with_a_trailing_newline_is_not_a_valid_name(tmp_path: Path) -> None:
    share = write(tmp_path / "share.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: |
            scratch
        spec: {fileSystem: studio-efs, scope: organisation, path: /scratch}
        """)
    problems = validate_path(share)
    assert [(p.line, p.field) for p in problems] == [(4, "metadata.name")]


def test_an_unquoted_mode_explains_that_yaml_read_it_as_a_number(estate: Path) -> None:
    shares = edit(estate / "shares.yaml", 'mode: "0700"', "mode: 0700")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(shares, "mode: 0700"), "spec.mode")
    assert problem.message == ('must be an octal mode written as a quoted string, such as '
                               '"0700" or "2770" (unquoted, YAML reads 0700 as a number); '
                               "found 448")


def test_a_mode_that_is_not_octal_is_refused(estate: Path) -> None:
    shares = edit(estate / "shares.yaml", 'mode: "2770"', 'mode: "0800"')
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(shares, '"0800"'), "spec.mode")
    assert problem.message.endswith('found "0800"')


def test_a_network_key_that_is_not_a_region_is_located_at_the_key(estate: Path) -> None:
    research = edit(estate / "research.yaml", "    us-west-2:\n", "    us-west2:\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "us-west2:"),
                                             "spec.network.us-west2")
    assert problem.message == ('"us-west2" is not allowed as a key here: it must be an AWS '
                               "region name such as us-east-1, eu-west-2 or ap-southeast-1")


def test_a_value_of_the_wrong_type_says_which_type_is_wanted(estate: Path) -> None:
    research = edit(estate / "research.yaml", "  shares: [home, team, datasets]\n",
                    "  shares: home\n")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "shares: home"), "spec.shares")
    assert problem.message == 'must be a list; found string "home"'


def test_an_unknown_kind_lists_the_kinds_allowed(estate: Path) -> None:
    research = edit(estate / "research.yaml", "kind: UserProfile\nmetadata:\n  name: bob",
                    "kind: Userprofile\nmetadata:\n  name: bob")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(research, "Userprofile"), "kind")
    assert problem.message == ("unknown kind \"Userprofile\"; did you mean 'UserProfile'? "
                               "allowed kinds: Domain, Estate, FileSystem, NotebookInstance, "
                               "Restore, Share, SnapshotPolicy, UserProfile")


def test_an_unknown_api_version_names_the_one_understood(estate: Path) -> None:
    shares = edit(estate / "shares.yaml", f"apiVersion: {API_VERSION}\nkind: Share\n"
                  "metadata:\n  name: team", "apiVersion: v1\nkind: Share\nmetadata:\n  name: team")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(shares, "apiVersion: v1"), "apiVersion")
    assert problem.message == (f'unknown apiVersion "v1"; studio-operator reads {API_VERSION} '
                               "documents of kinds Domain, Estate, FileSystem, "
                               "NotebookInstance, Restore, Share, SnapshotPolicy, UserProfile")


def test_every_problem_of_a_document_is_reported_in_one_pass(tmp_path: Path) -> None:
    domain = write(tmp_path / "domain.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Domain
        metadata:
          name: -bad-
        spec:
          authMode: LDAP
          network: {}
          profiles:
            - {name: ok, uid: 3, gid: 1001}
        """)
    problems = validate_path(domain)
    assert [(p.line, p.field) for p in problems] == [
        (4, "metadata.name"), (5, "spec.executionRole"), (6, "spec.authMode"),
        (7, "spec.network"), (9, "spec.profiles[0].uid")]


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


def _properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{where}.{name}", sub
        for key, sub in node.items():
            yield from _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for sub in node:
            yield from _properties(sub, where)


@pytest.mark.parametrize("name", ["common", *KIND_SCHEMAS])
def test_each_schema_is_valid_draft_2020_12_and_documents_every_field(name: str) -> None:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.schema.json")
    undocumented = [where for where, sub in _properties(schema)
                    if "description" not in sub and "$ref" not in sub]
    assert undocumented == []


@pytest.mark.parametrize("name", KIND_SCHEMAS)
def test_each_kind_schema_has_the_common_envelope_and_refuses_unknown_fields(name: str) -> None:
    schema = _schema(name)
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert schema["properties"]["apiVersion"] == {
        "$ref": "common.schema.json#/$defs/apiVersion"}
    assert _schema("common")["$defs"]["apiVersion"]["const"] == API_VERSION


def test_the_schema_folder_can_be_chosen_with_an_environment_variable(
        estate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = tmp_path / "manifests"
    shutil.copytree(SCHEMAS, manifests / "schemas")
    common = manifests / "schemas" / "common.schema.json"
    edit(common, '"maximum": 4000000,\n      "x-message": "must be a POSIX user id',
         '"maximum": 200150,\n      "x-message": "must be a POSIX user id')
    monkeypatch.setenv(MANIFESTS_ENV, str(manifests))
    assert schema_folder() == manifests / "schemas"
    problems = validate_path(estate)
    assert [p.field for p in problems] == ["spec.profiles[0].uid", "spec.profiles[1].uid",
                                           "spec.profiles[2].uid", "spec.profiles[3].uid"]


def test_the_package_ships_the_schemas_of_manifests_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One source: the package's schema folder is manifests/schemas, not a copy of it."""
    monkeypatch.delenv(MANIFESTS_ENV, raising=False)
    shipped = Path(str(schema_folder()))
    assert shipped.resolve() == SCHEMAS.resolve()
    assert sorted(p.name for p in shipped.glob("*.schema.json")) == sorted(
        p.name for p in SCHEMAS.glob("*.schema.json"))
