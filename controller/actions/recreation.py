"""RestoreRecreatedHome: a recreated profile's old home, restored into its new one.

The restore itself is the snapshot issue's machinery (restore from a live folder, owners
remapped, filling only what is missing); until it is in this code base the action is
refused with a terminal reason, the user table keeps the old incarnation, and the
restore happens once the machinery is there.
"""

from __future__ import annotations

from controller.actions.context import ExecutionContext
from controller.errors import TerminalError
from controller.plan.types import Action


def restore_recreated_home(action: Action, ctx: ExecutionContext) -> str:
    raise TerminalError("RestoreNotAvailable",
                        f"{action.params['Profile']}: restoring a recreated profile's home "
                        "needs the restore machinery (controller.snapshots), not in this "
                        "build; the old home is left where it is")
