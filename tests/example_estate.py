"""The example estate (desired_state/) as tests start from it, and the one variation many
of them need: the research domain backing its spaces up to a `space-backups` share.

One definition, so that when the example changes a test breaks in one place only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "desired_state"
RESEARCH_SHARES = "  shares: [home, team, datasets]\n"
BACKUP_SHARE = """\
apiVersion: studio-operator.io/v1alpha1
kind: Share
metadata:
  name: space-backups
spec:
  fileSystem: studio-efs
  scope: domain
  path: {path}
  mode: "{mode}"
{extra}"""


def copy_example(folder: Path) -> Path:
    """A fresh copy of the example estate at `folder` (replacing one already there)."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(EXAMPLE, folder)
    return folder


def turn_on_space_backup(folder: Path, path: str = "/backups/{domain}", mode: str = "0755",
                         extra: str = "", file_name: str = "space-backups.yaml") -> Path:
    """Add the `space-backups` share to an estate at `folder` and turn space backup on for
    its research domain; returns the share's file. `extra` is more of the share's spec,
    indented two spaces (e.g. an owner)."""
    share = folder / file_name
    share.write_text(BACKUP_SHARE.format(path=path, mode=mode, extra=extra), encoding="utf-8")
    research = folder / "research.yaml"
    text = research.read_text(encoding="utf-8")
    assert text.count(RESEARCH_SHARES) == 1, "the example's research domain changed shape"
    research.write_text(text.replace(
        RESEARCH_SHARES,
        "  shares: [home, team, datasets, space-backups]\n"
        "  spaceBackup: {enabled: true, share: space-backups}\n"), encoding="utf-8")
    return share
