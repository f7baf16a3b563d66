"""Deployment artefacts: CloudFormation templates pass cfn-lint, and the image runs the
same entry point the tests use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_image_has_the_tools_snapshots_run():
    """GNU tar and zstd make snapshots (controller/snapshots/archiver.py): tar comes with
    the Debian base image (it is Essential there), zstd is installed."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM python:3.11-slim" in dockerfile
    install = next(line for line in dockerfile.splitlines() if "apt-get install" in line)
    assert "zstd" in install.split()
