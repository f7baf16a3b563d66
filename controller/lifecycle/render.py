"""Renders the backup, restore and space-start scripts from the bash templates.

The templates (scripts/*.sh) are real bash with @@NAME@@ placeholders; every value put
in them has been checked by LifecycleSettings. Their comments stay in the templates:
Studio takes at most 16,384 base64 characters of script, so the rendered script keeps
only its opening notice, the code and shellcheck directives. Pure: reads only its own
templates.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from controller.lifecycle.settings import LifecycleSettings

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
# The shebang and the notice that opens common.sh, kept as the first lines.
HEADER_LINES = 4


@cache
def _template(name: str) -> str:
    return resources.files("controller.lifecycle").joinpath("scripts", name).read_text("utf-8")


def _values(settings: LifecycleSettings, kind: str) -> dict[str, str]:
    return {
        "KIND": kind,
        "FILE_SYSTEM_ID": settings.file_system_id,
        "SHARE_SUBDIR": settings.share_subdir,
        "METADATA_FILE": settings.metadata_file,
        "HOME_DIR": settings.home.rstrip("/") or "/",
        "MOUNT_ROOT": settings.mount_root.rstrip("/") or "/",
        "STATE_DIR": settings.state_dir,
        "INTERVAL_SECONDS": str(settings.interval_seconds),
        # Space separated inside a default, so quoted: names are [A-Za-z0-9._+-] only.
        "RESTORE_IGNORE": '"' + " ".join(settings.restore_ignore) + '"',
    }


def _render(settings: LifecycleSettings, kind: str, parts: tuple[str, ...], entry: str) -> str:
    values = _values(settings, kind)
    text = "\n".join(_template(part).rstrip("\n") for part in parts) + f"\n\n{entry}\n"

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _without_comments(PLACEHOLDER.sub(substitute, text))


def _without_comments(script: str) -> str:
    """Drops blank lines and whole-line comments (never a `#` after code: it may be
    inside a string or ${#...}); keeps the header and shellcheck directives."""
    lines = script.splitlines()
    kept = lines[:HEADER_LINES] + [
        line for line in lines[HEADER_LINES:]
        if line.strip() and (not line.lstrip().startswith("#")
                             or line.lstrip().startswith("# shellcheck disable"))]
    return "\n".join(kept) + "\n"


def backup_script(settings: LifecycleSettings) -> str:
    """The backup script alone: starts the background backup loop and returns."""
    return _render(settings, "backup", ("common.sh", "log.sh", "backup.sh"), "backup_main")


def restore_script(settings: LifecycleSettings) -> str:
    """The restore script alone: fills an empty home from its backup, once."""
    return _render(settings, "restore", ("common.sh", "log.sh", "restore.sh"), "restore_main")


def space_start_script(settings: LifecycleSettings) -> str:
    """What runs on app start: restore (synchronously, so the IDE opens on restored
    files; a failed restore fails the start rather than let work begin in an empty
    home), then the background backup loop."""
    return _render(settings, "space-start", ("common.sh", "log.sh", "restore.sh", "backup.sh"),
                   "restore_main\nbackup_main")
