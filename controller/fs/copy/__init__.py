"""The copy engine: a parallel, resumable, link-safe tree copy (see engine.copy_tree).

This package must not delete anything in a target, follow a symlink in source or target,
or talk to AWS.
"""

from controller.fs.copy.engine import CopyRefused, copy_tree
from controller.fs.copy.report import CopyReport, EntryError, Progress, render_text

__all__ = ["CopyRefused", "CopyReport", "EntryError", "Progress", "copy_tree", "render_text"]
