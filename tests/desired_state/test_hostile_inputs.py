"""Each change in hostile_inputs.HOSTILE is refused whole (the tests of each rule check the
exact problem; this keeps the shared list honest), and a link out of the desired-state
folder is never read."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.desired import validate_path
from tests.desired_state.hostile_inputs import HOSTILE, OUTSIDE_SECRET


@pytest.mark.parametrize("change", [change for _, change in HOSTILE],
                         ids=[name for name, _ in HOSTILE])
def test_each_hostile_change_is_refused(estate: Path, change) -> None:
    assert validate_path(estate) == []
    change(estate)
    assert validate_path(estate), "refused with at least one problem"


def test_the_list_covers_the_forty_inputs_the_rule_tests_refuse() -> None:
    assert len(HOSTILE) >= 40
    assert len({name for name, _ in HOSTILE}) == len(HOSTILE)


def test_a_link_to_a_file_outside_the_folder_is_refused_unread(estate: Path) -> None:
    dict(HOSTILE)["symlink-to-a-file-outside"](estate)
    problems = validate_path(estate)
    assert [(Path(p.file).name, p.line) for p in problems] == [("zz-secret.yaml", 0)]
    assert "symbolic link to a file outside the desired-state folder" in problems[0].message
    assert not any(OUTSIDE_SECRET in str(p) for p in problems)
