"""The layering in pyproject.toml ([tool.importlinter]) holds: the pure core imports no
boto3, only the gateway makes clients, only the data movers run the copy engine, and the
runtime never imports the emulator."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout
    assert "Only the data movers (and studioctl copy) run the copy engine" in result.stdout
    assert "The runtime never imports the emulator KEPT" in result.stdout


def test_importing_the_core_loads_no_aws_sdk():
    code = ("import sys, controller.model, controller.plan, controller.observed; "
            "print(any(m.split('.')[0] in ('boto3', 'botocore') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"
