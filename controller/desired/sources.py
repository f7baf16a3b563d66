"""Finding and reading the desired-state files, and the revision they make together.

A desired state is a folder searched recursively for *.yaml and *.yml files, and the
*.csv files of profiles a Domain may refer to (profilesFile) (hidden
files and folders such as .git or .github are skipped; a link to a file outside the
folder is refused unread: a commit must not make the controller read, and quote in its
problems, a file of its own), in sorted order, or one file given directly. Each file is
read once, refused whole when it is over MAX_FILE_BYTES (before it is read) or not
UTF-8, and hashed into the revision. This module must not
parse YAML or know anything about the documents inside.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from controller.errors import Problem

MAX_FILE_BYTES = 4 * 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
# Tables of profiles a Domain refers to (profilesFile): read, checked and hashed into the
# revision like the YAML files, so a changed CSV is a new revision.
CSV_SUFFIXES = (".csv",)
_BOM = "\ufeff"


@dataclass(frozen=True)
class SourceFile:
    display: str  # how problems name it: the path as the user gave it, joined
    relative: str  # posix path relative to the desired-state root; part of the revision
    data: bytes
    text: str | None  # None when the bytes are not UTF-8 (a Problem says so)

    @property
    def is_yaml(self) -> bool:
        return self.relative.lower().endswith(YAML_SUFFIXES)


@dataclass(frozen=True)
class SourceSet:
    root: str
    files: tuple[SourceFile, ...]
    problems: tuple[Problem, ...]

    @property
    def revision(self) -> str:
        """sha256: and the first 12 hex digits of a hash over names and contents."""
        digest = hashlib.sha256()
        for source in sorted(self.files, key=lambda f: f.relative):
            name = source.relative.encode("utf-8")
            # Length prefixes keep ("a", "bc") and ("ab", "c") apart.
            digest.update(b"%d:%s%d:" % (len(name), name, len(source.data)))
            digest.update(source.data)
        return "sha256:" + digest.hexdigest()[:12]


def read_sources(path: str | Path) -> SourceSet:
    root = Path(path)
    shown = str(path)
    try:
        mode = root.stat().st_mode
    except FileNotFoundError:
        return _refused(shown, "no such file or folder; give the desired-state folder or "
                        "one YAML file")
    except OSError as error:
        return _refused(shown, f"cannot be read: {error.strerror or error}")
    if stat.S_ISDIR(mode):
        return _read_folder(root, shown)
    return _read_files(shown, [(root, root.name)])


def _refused(shown: str, message: str) -> SourceSet:
    return SourceSet(shown, (), (Problem(shown, 0, "", message),))


def _read_folder(root: Path, shown: str) -> SourceSet:
    problems: list[Problem] = []

    def unreadable(error: OSError) -> None:
        problems.append(Problem(str(error.filename or shown), 0, "",
                                f"folder cannot be read: {error.strerror or error}"))

    found: list[tuple[Path, str]] = []
    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            if not name.startswith(".") and name.lower().endswith(YAML_SUFFIXES + CSV_SUFFIXES):
                full = Path(folder, name)
                found.append((full, full.relative_to(root).as_posix()))
    if not any(relative.lower().endswith(YAML_SUFFIXES) for _, relative in found) and (
            not problems):
        problems.append(Problem(shown, 0, "", "contains no *.yaml or *.yml files; a "
                                "desired state needs at least an Estate document"))
    found.sort(key=lambda item: item[1])
    inside, outside = _inside(root, found)
    read = _read_files(shown, inside)
    problems += [Problem(str(full), 0, "", "is a symbolic link to a file outside the "
                         "desired-state folder; it is not read (a revision must not make "
                         "the controller read its own files)") for full, _ in outside]
    return SourceSet(shown, read.files, (*problems, *read.problems))


def _inside(root: Path, found: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str]],
                                                                 list[tuple[Path, str]]]:
    """Files whose real path is inside the folder, and links that lead out of it."""
    top = os.path.realpath(root)
    inside: list[tuple[Path, str]] = []
    outside: list[tuple[Path, str]] = []
    for full, relative in found:
        real = os.path.realpath(full)
        (inside if os.path.commonpath((top, real)) == top else outside).append(
            (full, relative))
    return inside, outside


def _read_files(shown_root: str, paths: list[tuple[Path, str]]) -> SourceSet:
    files: list[SourceFile] = []
    problems: list[Problem] = []
    for full, relative in paths:
        display = str(full)
        data, problem = _read_bytes(full, display)
        if problem:
            problems.append(problem)
            continue
        assert data is not None
        text, problem = _decode(display, data)
        if problem:
            problems.append(problem)
        files.append(SourceFile(display, relative, data, text))
    return SourceSet(shown_root, tuple(files), tuple(problems))


def _too_big(display: str, size: int) -> Problem:
    return Problem(display, 0, "", f"is {size:,} bytes, over the {MAX_FILE_BYTES // 2**20} "
                   "MiB limit for one desired-state file; split it into several files")


def _read_bytes(full: Path, display: str) -> tuple[bytes | None, Problem | None]:
    try:
        info = full.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, Problem(display, 0, "", "is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            return None, _too_big(display, info.st_size)
        with full.open("rb") as handle:
            # Read one byte past the limit in case the file grew since stat.
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        return None, Problem(display, 0, "", f"cannot be read: {error.strerror or error}")
    if len(data) > MAX_FILE_BYTES:
        return None, _too_big(display, len(data))
    return data, None


def _decode(display: str, data: bytes) -> tuple[str | None, Problem | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        return None, Problem(display, line, "", f"is not valid UTF-8 (byte 0x"
                             f"{data[error.start]:02x} at column {column}); save the file "
                             "as UTF-8 text")
    return text.removeprefix(_BOM), None
