"""NotebookInstance documents: defaults, schema limits and the rules across documents."""

from __future__ import annotations

from pathlib import Path

from controller.desired import load_desired_state
from controller.notebooks.spec import NotebookMigrationSpec, NotebookNetworkSpec
from tests.desired_state.helpers import edit, line_of, the_problem, write

SECOND = """
apiVersion: studio-operator.io/v1alpha1
kind: NotebookInstance
metadata:
  name: {name}
spec:
  instanceType: ml.t3.medium
  executionRole: studio-execution-role
{extra}"""


def add_notebook(estate: Path, name: str, extra: str = "") -> Path:
    return write(estate / f"zz-notebook-{name}.yaml", SECOND.format(name=name, extra=extra))


def test_the_example_notebook_is_read_with_its_settings_and_defaults(estate: Path) -> None:
    add_notebook(estate, "plain")
    desired = load_desired_state(estate)

    example = desired.notebooks["research-notebook"]
    plain = desired.notebooks["plain"]

    assert (example.platform, example.root_access, example.stop_for_updates) == (
        "notebook-al2-v3", False, False)
    assert example.network == NotebookNetworkSpec("studio-vpc", "studio-private-a",
                                                  ("studio-nfs",), False)
    assert dict(example.tags) == {"team": "research"}
    assert (plain.platform, plain.volume_size_gb, plain.network, plain.region) == (
        "notebook-al2023-v1", 5, None, None)
    assert plain.migration == NotebookMigrationSpec(None, False)
    assert [n.name for n in desired.notebooks_in("us-east-1")] == ["plain", "research-notebook"]
    assert desired.notebooks_in("us-west-2") == []


def test_an_unknown_platform_is_refused_by_the_schema(estate: Path) -> None:
    notebook = estate / "notebooks.yaml"
    edit(notebook, "platformIdentifier: notebook-al2-v3", "platformIdentifier: notebook-al3-v1")
    problem = the_problem(estate)
    assert (problem.line, problem.field) == (line_of(notebook, "platformIdentifier"),
                                             "spec.platformIdentifier")


def test_a_second_notebook_of_the_same_name_is_refused(estate: Path) -> None:
    second = add_notebook(estate, "research-notebook")
    problem = the_problem(estate)
    assert (problem.file, problem.field) == (str(second), "metadata.name")
    assert "duplicate NotebookInstance name 'research-notebook'" in problem.message


def test_a_notebook_outside_the_estates_regions_is_refused(estate: Path) -> None:
    second = add_notebook(estate, "elsewhere", "  region: eu-west-1\n")
    problem = the_problem(estate)
    assert (problem.file, problem.line, problem.field) == (
        str(second), line_of(second, "region"), "spec.region")
    assert "eu-west-1 is not an estate region" in problem.message


def test_a_migration_may_not_reuse_the_instances_own_or_anothers_name(estate: Path) -> None:
    own = add_notebook(estate, "own", "  migration: {instanceName: own}\n")
    problem = the_problem(estate)
    assert (problem.file, problem.field) == (str(own), "spec.migration.instanceName")
    assert "must differ from the instance's own name" in problem.message
    own.unlink()

    taken = add_notebook(estate, "taker", "  migration: {instanceName: research-notebook}\n")
    problem = the_problem(estate)
    assert (problem.file, problem.field) == (str(taken), "spec.migration.instanceName")
    assert "also the name of NotebookInstance 'research-notebook'" in problem.message


def test_a_name_without_room_for_a_generation_number_needs_a_migration_name(
        estate: Path) -> None:
    long_name = "n" * 61
    add_notebook(estate, long_name)
    problem = the_problem(estate)
    assert problem.field == "metadata.name"
    assert "at most 60" in problem.message
    add_notebook(estate, long_name, "  migration: {instanceName: short}\n")
    assert load_desired_state(estate).notebooks[long_name].migration.instance_name == "short"


def test_owner_maps_are_read_and_root_or_a_non_number_is_refused_by_the_schema(
        estate: Path) -> None:
    add_notebook(estate, "mapped", "  migration:\n    uidMap: {\"501\": 1001}\n"
                 "    gidMap: {\"100\": 1000}\n")
    mapped = load_desired_state(estate).notebooks["mapped"].migration
    assert (dict(mapped.uid_map), dict(mapped.gid_map)) == ({501: 1001}, {100: 1000})

    add_notebook(estate, "mapped", "  migration:\n    uidMap: {\"501\": 0}\n")
    problem = the_problem(estate)
    assert problem.field == "spec.migration.uidMap.501" and "1" in problem.message

    add_notebook(estate, "mapped", "  migration:\n    gidMap: {\"ec2-user\": 1000}\n")
    problem = the_problem(estate)
    assert problem.field.startswith("spec.migration.gidMap") and "ec2-user" in problem.message
