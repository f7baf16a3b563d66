"""The engine against the reference tools, without root, and through `studioctl copy`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from controller.cli import copy_cmd
from controller.fs.copy import copy_tree
from tests.copy.conftest import IS_ROOT

# ../shared/tools beside the checkout (as on developer machines and in CI)
TOOLS = Path(__file__).resolve().parents[3] / "shared" / "tools"
REPO = Path(__file__).resolve().parents[2]


def studioctl_copy(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="studioctl")
    copy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["copy", *argv])
    return int(args.func(args))


@pytest.mark.skipif(not (TOOLS / "gentree.py").exists(), reason="benchmark tools absent")
def test_a_generated_studio_home_is_copied_exactly_as_verify_py_sees_it(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    subprocess.run([sys.executable, str(TOOLS / "gentree.py"), str(src), "--files", "500",
                    "--total-mib", "5"], check=True, capture_output=True)
    report = copy_tree(src, dst, workers=8)
    assert report.ok, report.errors
    verify = subprocess.run([sys.executable, str(TOOLS / "verify.py"), str(src), str(dst),
                             "--content"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout
    again = copy_tree(src, dst, workers=8)
    assert again.files_copied == 0 and again.hard_links_made == 0 and again.ok


@pytest.mark.skipif(not IS_ROOT, reason="needs root to drop to another user")
def test_without_root_owners_are_reported_once_and_everything_else_is_preserved():
    top = Path(tempfile.mkdtemp(prefix="studio-copy-nonroot-"))
    try:
        os.chmod(top, 0o755)
        src = top / "src"
        (src / "a/b").mkdir(parents=True)
        (src / "a/b/file").write_text("data")
        os.chmod(src / "a/b/file", 0o640)
        os.utime(src / "a/b/file", ns=(1_600_000_000_123_456_789,) * 2)
        (src / "a/link").symlink_to("b/file")
        (top / "dst").mkdir()
        for path in (src, src / "a", src / "a/b", src / "a/b/file", top / "dst"):
            os.chown(path, 65534, 65534)
        code = (
            "import os, json\n"
            "from pathlib import Path\n"
            "from controller.fs.copy import copy_tree\n"
            "os.setgid(65534); os.setuid(65534)\n"
            f"r = copy_tree(Path({str(src)!r}), Path({str(top / 'dst')!r}))\n"
            f"r2 = copy_tree(Path({str(src)!r}), Path({str(top / 'dst')!r}))\n"
            "print(json.dumps([r.to_dict(), r2.to_dict()]))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stderr
        first, second = json.loads(result.stdout)
        assert first["owners_not_set"] and first["ok"] and first["files_copied"] == 1
        assert second["files_copied"] == 0 and second["metadata_fixed"] == 0
        copied = os.lstat(top / "dst/a/b/file")
        assert (copied.st_uid, oct(copied.st_mode & 0o7777), copied.st_mtime_ns) == (
            65534, "0o640", 1_600_000_000_123_456_789)
        assert os.readlink(top / "dst/a/link") == "b/file"
    finally:
        shutil.rmtree(top)


def test_the_cli_exits_0_when_done_and_2_when_conflicts_are_left(source, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert studioctl_copy(str(source), str(dst)) == 0
    capsys.readouterr()
    (dst / "home/alice/secret").write_text("newer here")
    assert studioctl_copy(str(source), str(dst), "--output", "json") == 2
    out = json.loads(capsys.readouterr().out)
    assert out["conflicts"] == ["home/alice/secret"] and not out["ok"]
    assert studioctl_copy(str(source), str(dst), "--overwrite-newer") == 0


def test_the_cli_prints_one_line_per_error_and_exits_1(source, tmp_path, outside, capsys):
    dst = tmp_path / "dst"
    (dst / "home").mkdir(parents=True)
    (dst / "home/alice").symlink_to(outside)
    assert studioctl_copy(str(source), str(dst), "--progress") == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.out.splitlines() if line.startswith("  error:")]
    assert errors == ["  error: home/alice: is a symlink in the target where the source "
                      "has a directory; not followed, this subtree was skipped"]
    assert "Traceback" not in captured.err and "files" in captured.err


def test_the_cli_refuses_a_missing_source_in_one_line(tmp_path, capsys):
    assert studioctl_copy(str(tmp_path / "nope"), str(tmp_path / "dst")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("copy refused: cannot open the source")
