"""Names cannot forge lines: every line-oriented output escapes them; JSON stays exact.

The attack (issue 9, point 7): a newline in a file name forged lines in saved-files.txt
and in `studioctl copy`'s text report (a fake `error:` or summary line).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from controller.cli import copy_cmd
from controller.escaping import escape, unescape
from controller.fencing import RECOVERY_MANIFEST, RECOVERY_ROOT
from controller.fs.copy import copy_tree
from controller.fs.salvage import save_unreplicated

HOSTILE = [
    "doc\nerror: everything is fine\ncopied 0 files",
    "tab\there\tand\rreturn",
    "\x1b[2K\x1b[1Aansi",
    "back\\slash\\n",
    "rtl\u202eexe.txt",
    "line\u2028sep\x85nel",
    os.fsdecode(b"not-utf8-\xff\xfe"),
    "trailing newline\n",
]


def studioctl_copy(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="studioctl")
    copy_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["copy", *argv])
    return int(args.func(args))


def make_conflicts(tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    for name in HOSTILE:
        (src / "d" / name).write_text("from the source\n")
        os.utime(src / "d" / name, ns=(1_600_000_000_000_000_000,) * 2)
    assert copy_tree(src, dst).ok
    for name in HOSTILE:
        (dst / "d" / name).write_text("newer in the target\n")  # a conflict each
    return src, dst


def test_names_are_copied_exactly_whatever_bytes_they_hold(tmp_path):
    src, dst = make_conflicts(tmp_path)
    assert sorted(os.listdir(dst / "d")) == sorted(HOSTILE)


def test_the_text_report_has_one_escaped_line_per_conflict_and_json_is_exact(
        tmp_path, capsys):
    src, dst = make_conflicts(tmp_path)
    assert studioctl_copy(str(src), str(dst)) == 2
    lines = capsys.readouterr().out.splitlines()  # splitlines: also \r, \x85, \u2028
    listed = [line for line in lines if line.startswith("  conflict: ")]
    assert sorted(unescape(line[len("  conflict: "):]) for line in listed) == sorted(
        f"d/{name}" for name in HOSTILE)
    assert not [line for line in lines if line.startswith(("error", "  error"))]
    assert [line for line in lines if line.startswith("copied ")] == lines[:1]
    assert all(line.isprintable() for line in lines)
    assert studioctl_copy(str(src), str(dst), "--output", "json") == 2
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["conflicts"]) == sorted(f"d/{name}" for name in HOSTILE)


def test_an_error_line_quotes_the_name_escaped(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "x\nerror: fake").mkdir(parents=True)
    (dst / "x\nerror: fake").parent.mkdir(parents=True)
    (dst / "x\nerror: fake").symlink_to("/")
    assert studioctl_copy(str(src), str(dst)) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if "error" in line]
    assert errors[1:] == [r"  error: x\nerror: fake: is a symlink in the target where "
                          "the source has a directory; not followed, this subtree was "
                          "skipped"]


def test_saved_files_txt_has_one_line_per_saved_entry(tmp_path):
    old, active = tmp_path / "old", tmp_path / "active"
    (old / "home").mkdir(parents=True)
    active.mkdir()
    for name in HOSTILE:
        (old / "home" / name).write_text("late write\n")
    report = save_unreplicated(old, active, "F")
    assert not report.errors and len(report.saved) == len(HOSTILE) + 1
    manifest = (active / RECOVERY_ROOT / "F" / RECOVERY_MANIFEST).read_text(
        encoding="utf-8", errors="surrogateescape")
    rows = [line for line in manifest.split("\n") if line and not line.startswith("#")]
    assert len(rows) == len(report.saved)
    fields = [row.split("\t") for row in rows]
    assert all(len(row) == 3 for row in fields)
    assert sorted(unescape(path) for _, _, path in fields) == sorted(
        ["home/"] + [f"home/{name}" for name in HOSTILE])
    assert all(field.isprintable() for row in fields for field in row)


def test_escaping_is_c_style_and_reversible():
    assert escape("a\nb\\c\td") == r"a\nb\\c\td"
    assert escape(os.fsdecode(b"\xff")) == r"\xff"
    assert escape("\x85") == r"\u0085" and escape("\x7f") == r"\x7f"
    for name in HOSTILE:
        assert unescape(escape(name)) == name
        assert escape(name).isprintable()
