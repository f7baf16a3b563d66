"""The emulator's own UploadPart / CompleteMultipartUpload (controller/emulator/s3_parts.py)
checks what S3 checks and stores what moto's own path would.

The error codes are those of the S3 API reference (CompleteMultipartUpload: InvalidPart,
InvalidPartOrder, EntityTooSmall, NoSuchUpload; UploadPart: BadDigest for a checksum or
Content-MD5 that does not match the body; MalformedXML for a part list that does not
validate); the answers are parsed by botocore with the installed S3 service model, so a
field the model does not know, or a shape it does not accept, shows up as missing here.
A CRC32 upload still goes through moto and is the reference for what a completed object
looks like (ETag of part MD5s with the count, the part list).
"""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

BUCKET = "parts-test"
MIB = 1 << 20


def _s3(aws):
    return boto3.client("s3", region_name="us-east-1", endpoint_url=aws.endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}))


def _upload(s3, key, bodies, algorithm="SHA256"):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key,
                                        ChecksumAlgorithm=algorithm)["UploadId"]
    listed = []
    for number, body in enumerate(bodies, 1):
        answer = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                                Body=body, ChecksumAlgorithm=algorithm)
        entry = {"PartNumber": number, "ETag": answer["ETag"]}
        if algorithm == "SHA256":
            entry["ChecksumSHA256"] = answer["ChecksumSHA256"]
        listed.append(entry)
    return upload, listed


def _sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _code(error):
    return error.value.response["Error"]["Code"], \
        error.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def s3(aws):
    client = _s3(aws)
    client.create_bucket(Bucket=BUCKET)
    return client


def test_a_sha256_upload_completes_to_the_object_moto_would_make(s3):
    bodies = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    upload, listed = _upload(s3, "fast", bodies)
    for entry, body in zip(listed, bodies, strict=True):
        assert entry["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert entry["ChecksumSHA256"] == _sha(body)
    parts = s3.list_parts(Bucket=BUCKET, Key="fast", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [
        (e["PartNumber"], e["ETag"], len(b)) for e, b in zip(listed, bodies, strict=True)]
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="fast", UploadId=upload,
                                        MultipartUpload={"Parts": listed})
    md5s = b"".join(hashlib.md5(b).digest() for b in bodies)
    etag = f'"{hashlib.md5(md5s).hexdigest()}-3"'
    composite = base64.b64encode(hashlib.sha256(b"".join(
        hashlib.sha256(b).digest() for b in bodies)).digest()).decode()
    assert done["ETag"] == etag and done["ChecksumSHA256"] == composite
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=BUCKET, Key="fast", ChecksumMode="ENABLED")
    assert head["ContentLength"] == sum(map(len, bodies)) and head["ETag"] == etag
    assert head["ChecksumSHA256"].split("-")[0] == composite
    assert s3.get_object(Bucket=BUCKET, Key="fast")["Body"].read() == b"".join(bodies)
    assert s3.get_object(Bucket=BUCKET, Key="fast", Range="bytes=5242878-5242881")[
        "Body"].read() == b"aabb"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    # The same bytes through moto's own path (a CRC32 upload) make the same ETag.
    upload, listed = _upload(s3, "moto", bodies, algorithm="CRC32")
    s3.complete_multipart_upload(Bucket=BUCKET, Key="moto", UploadId=upload,
                                 MultipartUpload={"Parts": listed})
    assert s3.head_object(Bucket=BUCKET, Key="moto")["ETag"] == etag


def test_a_part_whose_checksum_or_md5_does_not_match_its_body_is_bad_digest(s3):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="k",
                                        ChecksumAlgorithm="SHA256")["UploadId"]
    with pytest.raises(ClientError) as wrong_sha:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload, PartNumber=1,
                       Body=b"damaged on the way", ChecksumSHA256=_sha(b"what was sent"))
    assert _code(wrong_sha) == ("BadDigest", 400)
    md5 = base64.b64encode(hashlib.md5(b"what was sent").digest()).decode()
    with pytest.raises(ClientError) as wrong_md5:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload, PartNumber=1,
                       Body=b"damaged on the way", ContentMD5=md5,
                       ChecksumSHA256=_sha(b"damaged on the way"))
    assert _code(wrong_md5) == ("BadDigest", 400)
    assert s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload).get("Parts", []) == []


def test_complete_refuses_parts_out_of_order_unknown_or_too_small(s3):
    upload, listed = _upload(s3, "k", [b"a" * (5 * MIB), b"small", b"last"])
    complete = lambda parts: s3.complete_multipart_upload(  # noqa: E731
        Bucket=BUCKET, Key="k", UploadId=upload, MultipartUpload={"Parts": parts})
    with pytest.raises(ClientError) as order:
        complete([listed[1], listed[0]])
    assert _code(order) == ("InvalidPartOrder", 400)
    with pytest.raises(ClientError) as etag:
        complete([{**listed[0], "ETag": '"' + "0" * 32 + '"'}])
    assert _code(etag) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as checksum:
        complete([{**listed[0], "ChecksumSHA256": _sha(b"other")}])
    assert _code(checksum) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as missing:
        complete([listed[0], {"PartNumber": 7, "ETag": listed[0]["ETag"]}])
    assert _code(missing) == ("InvalidPart", 400)
    with pytest.raises(ClientError) as small:
        complete(listed)  # part 2 (5 bytes) is not the last
    assert _code(small) == ("EntityTooSmall", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="k")  # nothing was stored by a refused Complete
    assert complete([listed[0], listed[1]])["ETag"].endswith('-2"')  # the last may be small


def test_parts_of_an_unknown_upload_are_no_such_upload(s3):
    with pytest.raises(ClientError) as part:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId="not-an-upload", PartNumber=1,
                       Body=b"x", ChecksumAlgorithm="SHA256")
    assert _code(part) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as done:
        s3.complete_multipart_upload(Bucket=BUCKET, Key="k", UploadId="not-an-upload",
                                     MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                 "ETag": '"x"'}]})
    assert _code(done) == ("NoSuchUpload", 404)


def test_a_part_sent_again_replaces_the_first_and_large_parts_complete_exactly(s3):
    """Parts past moto's in-memory limit are stored as files and copied into the object
    inside the kernel; a part sent again (a client retrying) replaces the first one."""
    first, again = bytes(range(256)) * (24 * MIB // 256), b"\x07" * (24 * MIB)
    tail = b"t" * (MIB + 3)
    upload, listed = _upload(s3, "big", [first, tail])
    resent = s3.upload_part(Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=1,
                            Body=again, ChecksumAlgorithm="SHA256")
    assert resent["ETag"] == f'"{hashlib.md5(again).hexdigest()}"'
    parts = s3.list_parts(Bucket=BUCKET, Key="big", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(again)), (2, len(tail))]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="big", UploadId=upload, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": resent["ETag"], "ChecksumSHA256": resent["ChecksumSHA256"]},
            listed[1]]})
    stored = s3.get_object(Bucket=BUCKET, Key="big")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(again + tail).digest()
    assert s3.get_object(Bucket=BUCKET, Key="big", Range=f"bytes={24 * MIB - 2}-{24 * MIB + 1}")[
        "Body"].read() == b"\x07\x07tt"
