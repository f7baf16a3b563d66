"""The image can start: the package installed as the Dockerfile installs it (no extras,
`pip install -c constraints.txt .`, from only what the Dockerfile copies) runs studioctl
from any folder, validates with the schemas it ships, and converges a region.

Slow (a fresh virtual environment and a wheel build): marked `slow`; `make test` runs it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.desired import load_desired_state
from tests.converge.helpers import REGION, prepared

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
EXAMPLE = ROOT / "desired_state"

pytestmark = pytest.mark.slow


def _instructions(keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines()
            if line.split(None, 1)[:1] == [keyword]]


def _build_context(app: Path) -> None:
    """What the Dockerfile COPYs into its WORKDIR, copied the way Docker does (links kept)."""
    for arguments in _instructions("COPY"):
        *sources, destination = shlex.split(arguments)
        for source in sources:
            target = app / destination / (source if destination.endswith("/") else "")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, app / destination, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)


def _clean_env(venv: Path) -> dict[str, str]:
    """Nothing of the test run's own set-up may help the installed package."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "STUDIO_OPERATOR_MANIFESTS", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the package installed as the image installs it."""
    (pip_command,) = [run for run in _instructions("RUN") if "pip install" in run]
    assert shlex.split(pip_command) == ["pip", "install", "--no-cache-dir", "-c",
                                        "constraints.txt", "."], pip_command
    base = tmp_path_factory.mktemp("image")
    app, venv = base / "app", base / "venv"
    _build_context(app)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-cache-dir", "-c",
         "constraints.txt", "."], cwd=app, env=_clean_env(venv), capture_output=True,
        text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    yield venv


def _studioctl(venv: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "studioctl"), *argv], cwd=cwd,
                          env=_clean_env(venv), capture_output=True, text=True, timeout=300)


def test_the_image_has_no_emulator_and_no_moto(installed):
    listed = subprocess.run([str(installed / "bin" / "pip"), "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    assert "moto==" not in listed
    assert "studio-operator==" in listed or "studio_operator==" in listed


def test_studioctl_starts_and_validates_with_the_schemas_it_ships(installed, tmp_path):
    help_text = _studioctl(installed, tmp_path, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "validate" in help_text.stdout and "Traceback" not in help_text.stderr
    shutil.copytree(EXAMPLE, tmp_path / "desired_state")
    valid = _studioctl(installed, tmp_path, "validate", "desired_state")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert valid.stdout.startswith("valid: 1 estate")
    broken = tmp_path / "broken"
    shutil.copytree(EXAMPLE, broken)
    research = broken / "research.yaml"
    research.write_text(research.read_text().replace("uid: 200101", "uid: 12"))
    refused = _studioctl(installed, tmp_path, "validate", "broken")
    assert refused.returncode == 1, "the shipped schemas refuse a uid of 12"
    assert "must be a POSIX user id" in refused.stderr


def test_one_apply_converges_a_region_against_the_emulator(installed, aws, tmp_path):
    prepared(aws, load_desired_state(EXAMPLE))
    applied = _studioctl(installed, tmp_path, "apply", "--desired", str(EXAMPLE),
                         "--region", REGION, "--endpoint-url", aws.endpoint_url,
                         "--efs-root", str(aws.efs_root), "--max-attempts", "2")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"{REGION}: applied; 20 of 20 action(s) done" in applied.stdout
