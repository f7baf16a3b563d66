"""`studioctl validate PATH`: a one-line summary and exit 0 when valid; one line per
problem on stderr, a count and exit 1 otherwise; never a traceback."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from controller.cli import validate_cmd
from tests.desired_state.helpers import EXAMPLE, edit, line_of

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^valid: 1 estate, 1 file system, 3 shares, 2 domains, 7 profiles, "
                     r"1 notebook instance \(revision sha256:[0-9a-f]{12}\)$")
PROBLEM_LINE = re.compile(r"^[^:]+:\d+: [\w.\[\]-]+: .+$")

Studioctl = Callable[[Sequence[str]], int]


@pytest.fixture
def studioctl() -> Studioctl:
    """controller.cli.main.main, the whole studioctl."""
    from controller.cli.main import main

    return main


def only_validate(argv: Sequence[str]) -> int:
    """The validate command on a parser of its own, independent of the other commands."""
    parser = argparse.ArgumentParser(prog="studioctl")
    validate_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_a_valid_state_prints_a_summary_and_exits_0(studioctl: Studioctl,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert studioctl(["validate", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert SUMMARY.match(out.strip()), out
    assert err == ""


def test_an_invalid_state_prints_one_line_per_problem_and_a_count(
        studioctl: Studioctl, estate: Path, capsys: pytest.CaptureFixture[str]) -> None:
    analytics = edit(estate / "analytics.yaml", "{name: frank, uid: 200203",
                     "{name: frank, uid: 5")
    research = edit(estate / "research.yaml", "  authMode: IAM\n", "  authMode: iam\n")
    assert studioctl(["validate", str(estate)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"{analytics}:{line_of(analytics, 'frank')}: "
                               "spec.profiles[2].uid: must be a POSIX user id")
    assert lines[1] == (f"{research}:{line_of(research, 'authMode')}: spec.authMode: must be "
                        "one of \"IAM\", \"SSO\"; found \"iam\" (did you mean 'IAM'?)")
    assert all(PROBLEM_LINE.match(line) for line in lines[:2])
    assert lines[2] == (f"invalid: 2 problems in {estate}; the controller would refuse this "
                        "revision and keep the last good one")
    assert len(lines) == 3


@pytest.mark.parametrize("breakage", ["missing", "not-utf8", "syntax"])
def test_unreadable_input_is_reported_never_a_traceback(
        studioctl: Studioctl, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        breakage: str) -> None:
    target = tmp_path / "state.yaml"
    if breakage == "not-utf8":
        target.write_bytes(b"kind: \xff\xfe\n")
    elif breakage == "syntax":
        target.write_text("kind: [Estate\n", encoding="utf-8")
    assert studioctl(["validate", str(target)]) == 1
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith(str(target))
    assert err.splitlines()[-1].startswith("invalid: 1 problem in ")


def test_the_command_works_on_a_parser_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    assert only_validate(["validate", str(EXAMPLE)]) == 0
    assert SUMMARY.match(capsys.readouterr().out.strip())


def test_the_help_teaches_what_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        only_validate(["validate", "--help"])
    help_text = capsys.readouterr().out
    for taught in ("*.yaml and *.yml", "alias bombs", "manifests/schemas/", "activeRegion",
                   "file:line: field.path: message", "Exit status: 0 valid, 1 invalid"):
        assert taught in help_text


def _run_studioctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "controller.cli.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_real_command_line_validates_the_example(studioctl: Studioctl) -> None:
    result = _run_studioctl("validate", "desired_state")
    assert result.returncode == 0, result.stderr
    assert SUMMARY.match(result.stdout.strip()), result.stdout


def test_the_real_command_line_refuses_a_broken_state_without_a_traceback(
        studioctl: Studioctl, estate: Path) -> None:
    edit(estate / "estate.yaml", "activeRegion: us-east-1", "activeRegion: us-east-2")
    result = _run_studioctl("validate", str(estate))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{estate / 'estate.yaml'}:11: spec.activeRegion: must be the primary region "
        "(us-east-1) or the replica region (us-west-2); found us-east-2",
        f"invalid: 1 problem in {estate}; the controller would refuse this revision and keep "
        "the last good one"]
