"""Fixtures for snapshot tests: S3 and KMS clients on the emulator, a bucket, a key, and a
mounted file system folder."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.snapshots.helpers import BUCKET


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url,
                          config=Config(retries={"mode": "standard", "total_max_attempts": 4}))
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def kms(aws):
    return boto3.client("kms", region_name="us-east-1", endpoint_url=aws.endpoint_url)


@pytest.fixture
def kms_key(kms):
    key = kms.create_key(Description="snapshots")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/studio-snapshots", TargetKeyId=key)
    return "alias/studio-snapshots"


@pytest.fixture
def mount(tmp_path) -> Path:
    """A file system's mount folder (`<efs-root>/fs-test`)."""
    folder = tmp_path / "efs" / "fs-test"
    folder.mkdir(parents=True)
    return folder
