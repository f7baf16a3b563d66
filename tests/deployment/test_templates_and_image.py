"""Deployment artefacts: CloudFormation templates pass cfn-lint, and the image runs the
same entry point the tests use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "infra" / "cloudformation").glob("*.yaml"))


def test_every_cloudformation_template_passes_cfn_lint():
    assert TEMPLATES, "templates exist"
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), *map(str, TEMPLATES)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    broken = tmp_path / "broken.yaml"
    prerequisites = next(t for t in TEMPLATES if t.name == "studio-prerequisites.yaml")
    text = prerequisites.read_text()
    assert "Type: AWS::EC2::VPC\n" in text
    broken.write_text(text.replace("Type: AWS::EC2::VPC\n", "Type: AWS::EC2::NotAThing\n"))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(broken)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0


def test_the_image_runs_the_console_script_the_tests_use():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["studioctl"]' in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'studioctl = "controller.cli.main:main"' in pyproject
    assert "COPY manifests ./manifests" in dockerfile, "the package's schemas link there"
    assert "STUDIO_OPERATOR_MANIFESTS" not in dockerfile, "the package ships its schemas"


def test_ci_installs_the_debian_packages_of_every_tool_the_suite_runs():
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    # tool the tests run -> the Debian package that provides it
    for tool, package in (("promtool", "prometheus"), ("setfacl", "acl"),
                          ("setfattr", "attr"), ("rsync", "rsync"),
                          ("shellcheck", "shellcheck"), ("tar", "tar"), ("zstd", "zstd")):
        assert f"command -v {tool} >/dev/null 2>&1 || need_apt+=({package})" in text, tool
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout


def test_ci_runs_the_slow_tests_as_a_step_of_their_own_after_the_rest():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert steps == ["make test", "make test-slow"]
    makefile = (ROOT / "Makefile").read_text()
    assert '-m pytest -m "not slow"' in makefile and "-m pytest -m slow" in makefile


# checkov pins a boto3 the project cannot share an environment with: `make install` puts
# it in .venv-checkov, pinned by constraints-checkov.txt.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _checkov(folder: Path) -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is missing: `make install` makes {CHECKOV.parent.parent.name}")
    result = subprocess.run([str(CHECKOV), "-d", str(folder), "--framework", "cloudformation",
                             "--skip-download", "--output", "json"], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "LOG_LEVEL": "ERROR"})
    return json.loads(result.stdout)


def test_every_template_passes_checkov_and_every_skip_says_why():
    report = _checkov(ROOT / "infra" / "cloudformation")
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and report["summary"]["parsing_errors"] == 0
    skipped = report["results"]["skipped_checks"]
    assert {(c["check_id"], c["resource"]) for c in skipped} == {
        ("CKV_AWS_119", "AWS::DynamoDB::Table.StatusTable"),
        ("CKV_AWS_158", "AWS::Logs::LogGroup.LogGroup")}, "a new skip is decided here"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 80, check["check_id"]


def test_checkov_would_catch_an_unencrypted_repository(tmp_path):
    template = ROOT / "infra" / "cloudformation" / "studio-operator-repository.yaml"
    text = template.read_text()
    assert "      EncryptionConfiguration: {EncryptionType: KMS}\n" in text
    (tmp_path / template.name).write_text(text.replace(
        "      EncryptionConfiguration: {EncryptionType: KMS}\n", "").replace(
        "ImageTagMutability: IMMUTABLE", "ImageTagMutability: MUTABLE"))
    failed = {c["check_id"] for c in _checkov(tmp_path)["results"]["failed_checks"]}
    assert {"CKV_AWS_136", "CKV_AWS_51"} <= failed


def test_the_image_has_the_tools_snapshots_run():
    """GNU tar and zstd make snapshots (controller/snapshots/archiver.py): tar comes with
    the Debian base image (it is Essential there), zstd is installed."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM python:3.11-slim" in dockerfile
    install = next(line for line in dockerfile.splitlines() if "apt-get install" in line)
    assert "zstd" in install.split()
