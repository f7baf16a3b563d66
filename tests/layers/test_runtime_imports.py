"""The image can start: the runtime commands never load the emulator (nor moto).

The emulator is for tests and local mode only; the image installs no moto. Only the
local-mode commands (demo, drill, emulator) may import it, and only inside the function
that runs them, so that building studioctl's parser (`--help`, every command) does not.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "controller" / "cli"
LOCAL_ONLY = ("controller.emulator", "controller.cli.drill_story")

PROBE = """\
import sys
from controller.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:  # --help exits through argparse
    code = stop.code
loaded = sorted(m for m in sys.modules
                if m == "moto" or m.startswith(("moto.", "controller.emulator",
                                                "controller.cli.drill_story")))
print("LOADED", ",".join(loaded), file=sys.stderr)
"""


def _loaded_by(*argv: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    line = next(x for x in result.stderr.splitlines() if x.startswith("LOADED"))
    return [name for name in line.removeprefix("LOADED").strip().split(",") if name]


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("validate", "desired_state"),
    ("plan", "--help"),
    ("apply", "--help"),
    ("run", "--help"),
    ("status", "--help"),
    ("copy", "--help"),
], ids=lambda argv: " ".join(argv))
def test_runtime_commands_never_load_the_emulator_or_moto(argv):
    assert _loaded_by(*argv) == []


def test_the_local_mode_commands_import_the_emulator_only_when_they_run():
    """An import at module level would reach every command through the parser."""
    for module in ("demo_cmd", "drill_cmd", "emulator_cmd"):
        tree = ast.parse((CLI / f"{module}.py").read_text())
        for node in tree.body:  # module level only: function bodies are fine
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not any(n.startswith(LOCAL_ONLY) for n in names), (module, names)
