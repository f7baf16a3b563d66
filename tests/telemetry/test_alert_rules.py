"""The Prometheus alert rules do what they say: promtool's unit tests for each rule group
(manifests/prometheus/tests/<group>.test.yaml) pass, every alert is shown firing in one,
and the tests fail when a rule is broken.

promtool is a real dependency of the suite (Debian: `apt-get install prometheus`;
.ci/run installs it). Without it these tests fail, saying so; they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "manifests" / "prometheus"
RULES = PROMETHEUS / "studio-operator-alerts.yaml"
TESTS = PROMETHEUS / "tests"


def promtool(*args: str, cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: install it (Debian/Ubuntu: `apt-get install "
                    "prometheus`; or a Prometheus release tarball) to test the alert rules")
    return subprocess.run([found, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def test_the_rules_file_is_valid_for_prometheus():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("group", [g["name"] for g in groups()])
def test_each_rule_group_has_unit_tests_that_pass(group):
    test_file = TESTS / f"{group}.test.yaml"
    assert test_file.is_file(), f"no promtool tests for {group}: write {test_file.name}"
    result = promtool("test", "rules", test_file.name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("group", groups(), ids=lambda g: g["name"])
def test_every_alert_is_tested_firing_in_its_group_file(group):
    cases = yaml.safe_load((TESTS / f"{group['name']}.test.yaml").read_text())["tests"]
    firing = {check["alertname"] for case in cases
              for check in case.get("alert_rule_test", []) if check.get("exp_alerts")}
    quiet = {check["alertname"] for case in cases
             for check in case.get("alert_rule_test", []) if not check.get("exp_alerts")}
    alerts = {rule["alert"] for rule in group["rules"]}
    assert alerts <= firing, f"never shown firing: {sorted(alerts - firing)}"
    assert alerts <= quiet, f"never shown quiet: {sorted(alerts - quiet)}"


def test_the_unit_tests_catch_a_broken_rule(tmp_path):
    """The standby case: a rule that counts each replica on its own would page."""
    broken = RULES.read_text().replace(
        "time() - max by (region) (studio_operator_last_successful_pass_timestamp_seconds)",
        "time() - studio_operator_last_successful_pass_timestamp_seconds")
    assert broken != RULES.read_text()
    (tmp_path / "tests").mkdir()
    (tmp_path / RULES.name).write_text(broken)
    test_file = tmp_path / "tests" / "studio-operator-controller.test.yaml"
    shutil.copy(TESTS / test_file.name, test_file)
    result = promtool("test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode != 0
    assert "StudioOperatorNotReconciling" in result.stdout + result.stderr
