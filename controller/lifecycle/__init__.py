"""Space backup and restore lifecycle configs for Studio JupyterLab and Code Editor apps.

The operator generates two bash scripts from the templates in scripts/: a backup that
copies a space's EBS home into the backup share on the custom EFS (in the background on
app start, then periodically), and a restore that fills an empty home from that share
once, before first use in the other region. Studio runs one lifecycle config per app
start, so the config the operator attaches runs restore, then backup.

This package is pure: no boto3, no I/O except reading its own script templates.
"""

from controller.lifecycle.configs import (
    LIFECYCLE_CONTENT_LIMIT,
    LifecycleConfigRequest,
    app_settings_with_lifecycle,
    is_operator_config_arn,
    lifecycle_configs,
    settings_for,
)
from controller.lifecycle.render import backup_script, restore_script, space_start_script
from controller.lifecycle.settings import LifecycleSettings

__all__ = [
    "LIFECYCLE_CONTENT_LIMIT",
    "LifecycleConfigRequest",
    "LifecycleSettings",
    "app_settings_with_lifecycle",
    "backup_script",
    "is_operator_config_arn",
    "lifecycle_configs",
    "restore_script",
    "settings_for",
    "space_start_script",
]
