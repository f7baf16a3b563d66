"""A notebook instance on real folders for the lifecycle script tests: a volume, a state
folder, the instance's metadata, and the emulator's S3 and SageMaker as its network.

The script runs in real bash with the machine's tar, zstd/gzip and aws CLI, pointed at
these folders through the STUDIO_OPERATOR_* variables (what the emulator's notebook
instances give their scripts too), with nothing reachable but the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from controller.emulator import Emulator
from controller.notebooks.render import NotebookScriptSettings, lifecycle_script, start_script

BUCKET = "notebook-snapshots"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def aws_cli_folder() -> str:
    found = shutil.which("aws")
    assert found, "the aws CLI is needed (Debian: apt-get install awscli)"
    return str(Path(found).parent)


@dataclass
class Instance:
    """One fake notebook instance: its folders, its ARN, and the scripts' settings."""

    root: Path
    aws: Emulator
    name: str
    arn: str
    settings: NotebookScriptSettings
    ec2_user: str = "1000:1000"

    @property
    def volume(self) -> Path:
        return self.root / "SageMaker"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{SYSTEM_PATH}:{aws_cli_folder()}",
            "HOME": str(self.root),
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": self.aws.endpoint_url,
            # Nothing else is reachable: a proxy that goes nowhere catches any other call.
            "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1",
            "STUDIO_OPERATOR_VOLUME": str(self.volume),
            "STUDIO_OPERATOR_STATE_DIR": str(self.state),
            "STUDIO_OPERATOR_METADATA_FILE": str(self.root / "metadata.json"),
            "STUDIO_OPERATOR_EC2_USER": self.ec2_user,
            "STUDIO_OPERATOR_FOREGROUND": "1",
            **extra,
        }

    def run(self, wrapped: bool = False, timeout: float = 600,
            **extra: str) -> subprocess.CompletedProcess[str]:
        script = self.root / "lifecycle.sh"
        script.write_text(lifecycle_script(self.settings) if wrapped
                          else start_script(self.settings))
        return subprocess.run(["bash", str(script)], env=self.env(**extra), cwd=self.root,
                              capture_output=True, text=True, timeout=timeout)

    def tag(self, **tags: str) -> None:
        sagemaker = boto3.client("sagemaker", endpoint_url=self.aws.endpoint_url)
        sagemaker.add_tags(ResourceArn=self.arn, Tags=[
            {"Key": f"studio-operator.io/{k.replace('_', '-')}", "Value": v}
            for k, v in tags.items()])


MakeInstance = Callable[..., Instance]


@pytest.fixture
def make_instance(aws: Emulator, tmp_path: Path) -> MakeInstance:
    """Instances with folders of their own; each is a real (emulated) notebook instance,
    so that the script can read its tags as it would on AWS."""
    boto3.client("s3", endpoint_url=aws.endpoint_url).create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", endpoint_url=aws.endpoint_url)
    iam.create_role(RoleName="notebook-role", AssumeRolePolicyDocument="{}")
    sagemaker = boto3.client("sagemaker", endpoint_url=aws.endpoint_url)

    def make(name: str = "research-notebook", notebook: str = "research-notebook",
             ec2_user: str = "1000:1000", **settings: object) -> Instance:
        arn = sagemaker.create_notebook_instance(
            NotebookInstanceName=name, InstanceType="ml.t3.medium",
            RoleArn="arn:aws:iam::123456789012:role/notebook-role")["NotebookInstanceArn"]
        root = tmp_path / name
        (root / "SageMaker").mkdir(parents=True)
        (root / "state").mkdir()
        (root / "metadata.json").write_text(json.dumps({"ResourceArn": arn,
                                                        "ResourceName": name}))
        config = NotebookScriptSettings(**{  # type: ignore[arg-type]
            "bucket": BUCKET, "policy": "nightly", "notebook": notebook,
            "region": "us-east-1", **settings})
        return Instance(root, aws, name, arn, config, ec2_user)

    return make
