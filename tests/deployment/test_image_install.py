"""The image can start: what the Dockerfile builds, built without Docker (Docker does not
run here). Its COPY and RUN steps are carried out in order in a fresh virtual
environment standing in for the image's Python (apt-get's system packages excepted:
git must be on this machine), from only what the Dockerfile copies; then studioctl runs
from any folder, validates with the schemas it ships, answers `preflight --help`, and
converges a region. How the Dockerfile is built is checked too: a base pinned by
digest, dependencies from constraints.txt in a layer before the code, a .dockerignore.

Slow (a fresh virtual environment and a wheel build): marked `slow`; `make test-slow`
runs it (CI: a step of its own).
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


def _steps() -> list[tuple[str, str]]:
    """(instruction, arguments) in order, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(parts[0], parts[1]) for line in text.splitlines()
            if (parts := line.split(None, 1)) and len(parts) == 2 and parts[0].isupper()]


def _instructions(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in _steps() if instruction == keyword]


def _copy(arguments: str, app: Path) -> None:
    """One COPY into the WORKDIR, the way Docker does it (links kept)."""
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
    """A fresh virtual environment with the package installed by the Dockerfile's steps."""
    base = tmp_path_factory.mktemp("image")
    app, venv = base / "app", base / "venv"
    app.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    for instruction, arguments in _steps():
        if instruction == "COPY":
            _copy(arguments, app)
        elif instruction == "RUN" and "apt-get" in arguments:
            assert shutil.which("git"), "the image's git: install it on this machine too"
        elif instruction == "RUN":
            # The image's `pip` and `python` are the fresh environment's here.
            done = subprocess.run(["sh", "-c", arguments], cwd=app, env=_clean_env(venv),
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, f"RUN {arguments}\n{done.stdout}{done.stderr}"
    yield venv


def _studioctl(venv: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "studioctl"), *argv], cwd=cwd,
                          env=_clean_env(venv), capture_output=True, text=True, timeout=300)


def test_the_image_has_no_emulator_and_no_moto(installed):
    listed = subprocess.run([str(installed / "bin" / "pip"), "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    assert "moto==" not in listed
    assert "studio-operator==" in listed or "studio_operator==" in listed


def test_the_dockerfile_pins_its_base_installs_from_the_lock_and_orders_its_layers():
    (base,) = _instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    steps = _steps()
    dependencies = next(i for i, (kind, args) in enumerate(steps)
                        if kind == "RUN" and "-r runtime-requirements.txt" in args)
    assert "-c constraints.txt" in steps[dependencies][1]
    code = next(i for i, step in enumerate(steps) if step == ("COPY", "controller ./controller"))
    copied_before = {s for kind, args in steps[:dependencies] if kind == "COPY"
                     for s in shlex.split(args)[:-1]}
    assert copied_before == {"constraints.txt", "pyproject.toml"}, (
        "only the lock and the dependency list come before the dependencies' layer")
    assert dependencies < code, "a code change must not reinstall the dependencies"
    assert any(kind == "RUN" and "--no-deps" in args and "pip check" in args
               for kind, args in steps[code:])
    makefile = (ROOT / "Makefile").read_text()
    (pip_version,) = re.findall(r"^PIP_VERSION := (\S+)$", makefile, re.M)
    assert any(args == f"pip install --no-cache-dir pip=={pip_version}"
               for kind, args in steps if kind == "RUN"), "the same pip as make install"
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "the build context holds nothing but what is let in"
    let_in = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    copied = {source for kind, args in steps if kind == "COPY"
              for source in shlex.split(args)[:-1]}
    assert let_in == copied, "the .dockerignore lets in exactly what the Dockerfile copies"


def test_studioctl_starts_and_validates_with_the_schemas_it_ships(installed, tmp_path):
    help_text = _studioctl(installed, tmp_path, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "validate" in help_text.stdout and "Traceback" not in help_text.stderr
    preflight = _studioctl(installed, tmp_path, "preflight", "--help")
    assert preflight.returncode == 0, preflight.stderr
    assert "standby_controller" in preflight.stdout
    worker = _studioctl(installed, tmp_path, "worker", "--help")
    assert worker.returncode == 0, worker.stderr
    assert "--report" in worker.stdout, "the image runs the data-mover worker task"
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
    assert f"{REGION}: applied; 22 of 22 action(s) done" in applied.stdout
    # The pass's first snapshots ran to the end before the command returned.
    assert "snapshot_complete" in applied.stderr and "snapshot_job_failed" not in applied.stderr
