"""Where job specs and reports travel: an S3 object (`s3://bucket/key`) or a local file.

The controller and a worker task in another process (or region) never share memory or a
mount; they share a bucket. This module only reads and writes whole small objects; it
must not interpret them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from controller.gateway import AwsGateway


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse(where: str) -> S3Location | Path:
    if where.startswith("s3://"):
        bucket, _, key = where[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"{where!r} is not s3://bucket/key")
        return S3Location(bucket, key)
    return Path(where)


def read(gateway: AwsGateway, region: str, where: str) -> bytes:
    place = parse(where)
    if isinstance(place, Path):
        return place.read_bytes()
    answer = gateway.client("s3", region).get_object(Bucket=place.bucket, Key=place.key)
    return bytes(answer["Body"].read())


def write(gateway: AwsGateway, region: str, where: str, data: bytes) -> None:
    place = parse(where)
    if isinstance(place, Path):
        temporary = place.with_name(f".{place.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, place)  # a reader never sees half a report
        return
    gateway.client("s3", region).put_object(Bucket=place.bucket, Key=place.key, Body=data,
                                            ContentType="application/json")


def exists(gateway: AwsGateway, region: str, where: str) -> bool:
    place = parse(where)
    if isinstance(place, Path):
        return place.is_file()
    s3 = gateway.client("s3", region)
    try:
        s3.head_object(Bucket=place.bucket, Key=place.key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
