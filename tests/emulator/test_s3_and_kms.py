"""What snapshots need from the emulator's S3 and KMS (moto's, recognised by operation).

Multipart upload, ListMultipartUploads by prefix and AbortMultipartUpload; ranged
GETs; GenerateDataKey and Decrypt bound to an encryption context. S3 names PutObject,
UploadPart and CopyObject by one URI, so the emulator tells them apart by their
required query and header members: counts and faults must name the real operation.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def _clients(aws, attempts=3):
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    make = lambda service: boto3.client(service, region_name="us-east-1",  # noqa: E731
                                        endpoint_url=aws.endpoint_url, config=config)
    return make("s3"), make("kms")


def test_multipart_operations_are_counted_by_their_own_names(aws):
    s3, _ = _clients(aws)
    s3.create_bucket(Bucket="snapshots-test")
    upload = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/a")["UploadId"]
    s3.upload_part(Bucket="snapshots-test", Key="p/a", UploadId=upload, PartNumber=1,
                   Body=b"x" * 10)
    s3.put_object(Bucket="snapshots-test", Key="p/b", Body=b"y")
    s3.copy_object(Bucket="snapshots-test", Key="p/c",
                   CopySource={"Bucket": "snapshots-test", "Key": "p/b"})
    s3.list_parts(Bucket="snapshots-test", Key="p/a", UploadId=upload)
    s3.get_object(Bucket="snapshots-test", Key="p/b")
    s3.abort_multipart_upload(Bucket="snapshots-test", Key="p/a", UploadId=upload)
    counts = aws.request_counts()
    for operation in ("UploadPart", "PutObject", "CopyObject", "ListParts", "GetObject",
                      "AbortMultipartUpload", "CreateMultipartUpload"):
        assert counts.get(f"s3:{operation}") == 1, (operation, counts)


def test_open_uploads_are_listed_by_prefix_and_gone_once_aborted(aws):
    s3, _ = _clients(aws)
    s3.create_bucket(Bucket="snapshots-test")
    mine = s3.create_multipart_upload(Bucket="snapshots-test", Key="snaps/nightly/x")
    s3.create_multipart_upload(Bucket="snapshots-test", Key="other/y")
    listed = s3.list_multipart_uploads(Bucket="snapshots-test", Prefix="snaps/nightly/")
    assert [u["Key"] for u in listed["Uploads"]] == ["snaps/nightly/x"]
    s3.abort_multipart_upload(Bucket="snapshots-test", Key="snaps/nightly/x",
                              UploadId=mine["UploadId"])
    listed = s3.list_multipart_uploads(Bucket="snapshots-test", Prefix="snaps/nightly/")
    assert listed.get("Uploads", []) == []


def test_faults_can_target_upload_part_alone(aws):
    s3, _ = _clients(aws, attempts=1)
    s3.create_bucket(Bucket="snapshots-test")
    upload = s3.create_multipart_upload(Bucket="snapshots-test", Key="k")["UploadId"]
    aws.set_faults(1.0, kinds=("5xx",), operations=["s3:UploadPart"])
    with pytest.raises(ClientError):
        s3.upload_part(Bucket="snapshots-test", Key="k", UploadId=upload, PartNumber=1,
                       Body=b"x")
    s3.put_object(Bucket="snapshots-test", Key="other", Body=b"fine")  # not faulted


def test_data_keys_decrypt_only_with_their_encryption_context(aws):
    _, kms = _clients(aws)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/studio-snapshots", TargetKeyId=key)
    made = kms.generate_data_key(KeyId="alias/studio-snapshots", KeySpec="AES_256",
                                 EncryptionContext={"snapshot": "a"})
    assert len(made["Plaintext"]) == 32
    back = kms.decrypt(CiphertextBlob=made["CiphertextBlob"], EncryptionContext={"snapshot": "a"})
    assert back["Plaintext"] == made["Plaintext"]
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=made["CiphertextBlob"], EncryptionContext={"snapshot": "b"})


def test_each_multipart_upload_is_dated_when_it_was_created(aws):
    """As S3 dates them (moto gives every upload one fixed date in 2010): the operator
    tells a left-over upload from one in flight by it."""
    import time
    from datetime import UTC, datetime

    s3, _ = _clients(aws)
    s3.create_bucket(Bucket="snapshots-test")
    before = datetime.now(UTC).replace(microsecond=0)
    first = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/a")["UploadId"]
    time.sleep(1.1)
    second = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/b")["UploadId"]
    after = datetime.now(UTC)
    dated = {u["UploadId"]: u["Initiated"] for u in s3.list_multipart_uploads(
        Bucket="snapshots-test", Prefix="p/")["Uploads"]}
    assert before <= dated[first] < dated[second] <= after


def test_a_completed_or_aborted_upload_is_no_such_upload_when_completed_again(aws):
    """S3 forgets an upload id once its upload completed or was aborted: a Complete sent
    again (a client retrying after a timeout) is 404 NoSuchUpload, the object stays the
    first Complete's (moto answered 500: its upload table raised KeyError)."""
    s3, _ = _clients(aws, attempts=1)
    s3.create_bucket(Bucket="snapshots-test")
    upload = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/a")["UploadId"]
    etag = s3.upload_part(Bucket="snapshots-test", Key="p/a", UploadId=upload, PartNumber=1,
                          Body=b"x" * 10)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket="snapshots-test", Key="p/a", UploadId=upload,
                                         MultipartUpload=parts)
    with pytest.raises(ClientError) as again:
        s3.complete_multipart_upload(Bucket="snapshots-test", Key="p/a", UploadId=upload,
                                     MultipartUpload=parts)
    assert again.value.response["Error"]["Code"] == "NoSuchUpload"
    assert again.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert s3.head_object(Bucket="snapshots-test", Key="p/a")["ETag"] == first["ETag"]

    aborted = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/b")["UploadId"]
    s3.abort_multipart_upload(Bucket="snapshots-test", Key="p/b", UploadId=aborted)
    with pytest.raises(ClientError) as after_abort:
        s3.complete_multipart_upload(Bucket="snapshots-test", Key="p/b", UploadId=aborted,
                                     MultipartUpload=parts)
    assert after_abort.value.response["Error"]["Code"] == "NoSuchUpload"


def test_a_part_sent_to_an_aborted_upload_is_no_such_upload(aws):
    """A part uploaded after its upload was aborted (a snapshot cancelled while a part was
    in flight) is 404 NoSuchUpload on S3, which a writer can tell from a server fault
    (moto answered 500)."""
    s3, _ = _clients(aws, attempts=1)
    s3.create_bucket(Bucket="snapshots-test")
    aborted = s3.create_multipart_upload(Bucket="snapshots-test", Key="p/c")["UploadId"]
    s3.abort_multipart_upload(Bucket="snapshots-test", Key="p/c", UploadId=aborted)
    with pytest.raises(ClientError) as late:
        s3.upload_part(Bucket="snapshots-test", Key="p/c", UploadId=aborted, PartNumber=1,
                       Body=b"x" * 10)
    assert late.value.response["Error"]["Code"] == "NoSuchUpload"
    assert late.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
