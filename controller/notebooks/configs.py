"""The backup lifecycle configuration of one NotebookInstance: its name and request. Pure.

A config's name carries a hash of its script, as the Studio ones do (controller.lifecycle
.configs): a changed script (another policy, bucket, prefix, level or key) is a new
config under a new name, attached to the instance while it is stopped, and the instance
never runs half of an old script and half of a new one. Builds request bodies; calls
nothing.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from controller.notebooks.render import NotebookScriptSettings, lifecycle_script
from controller.notebooks.spec import NotebookInstanceSpec
from controller.snapshots.spec import SnapshotPolicySpec

NAME_PREFIX = "studio-op-nb"
# Every seal config's name starts so (whatever its hash): a plan tells them by it.
SEAL_PREFIX = f"{NAME_PREFIX}-seal-"
HASH_LENGTH = 12


@dataclass(frozen=True)
class NotebookConfig:
    name: str
    script: str

    def request(self) -> dict[str, Any]:
        content = base64.b64encode(self.script.encode("utf-8")).decode("ascii")
        return {"NotebookInstanceLifecycleConfigName": self.name,
                "OnStart": [{"Content": content}]}


def backup_config(spec: NotebookInstanceSpec, policy: SnapshotPolicySpec,
                  region: str, kind: str = "start") -> NotebookConfig:
    """The config that snapshots `spec`'s volume on every start into `policy`'s bucket in
    `region`, server-side encrypted with the policy's KMS key when it has one. Kind
    "seal": the one a migration's old instance gets before it is deleted (snapshot in
    the foreground, then a failed start: controller.notebooks.migration)."""
    script = lifecycle_script(NotebookScriptSettings(
        bucket=policy.buckets[region], policy=policy.name, notebook=spec.name, region=region,
        prefix=policy.prefix, level=policy.level, kms_key_id=policy.kms_key_id or ""), kind)
    digest = hashlib.sha256(script.encode("utf-8")).hexdigest()[:HASH_LENGTH]
    # The hash alone tells configs apart; the fixed prefix tells them as the operator's.
    return NotebookConfig(f"{SEAL_PREFIX if kind == 'seal' else NAME_PREFIX + '-'}{digest}",
                          script)


def seal_config(spec: NotebookInstanceSpec, policy: SnapshotPolicySpec,
                region: str) -> NotebookConfig:
    return backup_config(spec, policy, region, kind="seal")
