"""S3 UploadPart and CompleteMultipartUpload served straight into moto's S3 store.

moto's own path is what capped every snapshot benchmark: each part goes through its
request parsing, and CompleteMultipartUpload reads every part back, joins them into one
buffer (growing it part by part), hashes every part again for the composite checksum,
copies the whole to bytes and writes it once more into the object (about 4 CPU-seconds
for 640 MiB, measured). Here a part is checked and hashed once as it arrives (MD5 for its
ETag, SHA-256 for the upload's checksum), handed to moto's upload as a part, and a
completed upload's parts are copied once (inside the kernel when they are files) into
the object moto stores;
the composite SHA-256 comes from the part digests kept at upload time.

It checks what S3 checks, stricter where moto is lax: a part's x-amz-checksum-sha256 and
Content-MD5 must match its body (400 BadDigest; moto stores a damaged part), an upload
that does not exist is 404 NoSuchUpload, and a Complete must list parts in ascending
order (400 InvalidPartOrder), each uploaded with the ETag (and checksum, when given) the
client names (400 InvalidPart), every one but the last at least 5 MiB (400
EntityTooSmall), at least one (400 MalformedXML). The object then reads back as moto's
own multipart object would: ETag the MD5 of the part MD5s with the part count, checksum
SHA-256 COMPOSITE. Anything outside this fast path (aws-chunked bodies, other checksum
algorithms, SSE, conditional writes, part numbers out of range) returns None: moto
answers as before.

This uses moto internals (the S3 backend, FakeMultipart.set_part, FakeKey's value
buffer and its in-memory limit), pinned and checked by tests/emulator/test_moto_canary.py.
It must not change an object moto made, nor keep anything but part digests.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from moto.s3.models import s3_backends
from moto.settings import get_s3_default_key_buffer_size

from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply

MIN_PART = 5 << 20  # S3's smallest part but the last
MAX_PART_NUMBER = 10_000
COPY_PIECE = 1 << 20


class _Part:
    __slots__ = ("md5", "sha256", "size")

    def __init__(self, md5: str, sha256: bytes, size: int) -> None:
        self.md5, self.sha256, self.size = md5, sha256, size


class S3PartStore:
    def __init__(self, gateway: MotoGateway) -> None:
        self._gateway = gateway
        self._lock = threading.Lock()
        self._parts: dict[str, dict[int, _Part]] = {}  # upload id -> its parts' digests

    def reset(self) -> None:
        with self._lock:
            self._parts.clear()

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._parts.pop(upload_id, None)

    # -- UploadPart ----------------------------------------------------------------------
    def upload_part(self, request: AwsRequest) -> Reply | None:
        headers = request.headers
        if _streaming(headers) or any(
                name.startswith("x-amz-checksum-") and name != "x-amz-checksum-sha256"
                for name in headers) or "x-amz-server-side-encryption-customer-algorithm" \
                in headers:
            return None
        try:
            number = int(request.query_value("partNumber") or "")
        except ValueError:
            return None
        if not 1 <= number <= MAX_PART_NUMBER:
            return None
        multipart, _ = self._multipart(request)
        if multipart.sse_encryption or multipart.kms_key_id or _algorithm(multipart) != "SHA256":
            return None  # SSE, or a CRC (or default) checksum upload: moto's own path
        body = request.body
        md5 = hashlib.md5(body)
        if "content-md5" in headers and \
                base64.b64encode(md5.digest()).decode() != headers["content-md5"].strip():
            raise AwsError("BadDigest", "The Content-MD5 you specified did not match what we "
                           "received.", 400)
        sha256 = hashlib.sha256(body).digest()
        if "x-amz-checksum-sha256" in headers and \
                base64.b64encode(sha256).decode() != headers["x-amz-checksum-sha256"]:
            raise AwsError("BadDigest", "The SHA256 you specified did not match the "
                           "calculated checksum.", 400)
        value = _value_buffer(body)  # outside the lock: parts are stored side by side
        with self._lock:
            key = multipart.set_part(number, b"")
            key._value_buffer.close()
            key._value_buffer, key.contentsize = value, len(body)
            key._etag = md5.hexdigest()  # what moto would compute from the stored bytes
            self._parts.setdefault(multipart.id, {})[number] = _Part(
                md5.hexdigest(), sha256, len(body))
        return Reply(200, b"", {"ETag": f'"{md5.hexdigest()}"',
                                "x-amz-checksum-sha256": base64.b64encode(sha256).decode()})

    # -- CompleteMultipartUpload ---------------------------------------------------------
    def complete(self, request: AwsRequest) -> Reply | None:
        if "if-none-match" in request.headers or "if-match" in request.headers:
            return None
        multipart, (backend, bucket) = self._multipart(request)
        with self._lock:
            known = dict(self._parts.get(multipart.id, {}))
        if set(known) != set(multipart.parts) or multipart.sse_encryption or \
                multipart.kms_key_id or _algorithm(multipart) != "SHA256":
            return None  # some part went through moto: moto completes it
        listed = _listed_parts(request.body)
        chosen: list[_Part] = []
        for index, (number, etag, checksum) in enumerate(listed):
            if index and number <= listed[index - 1][0]:
                raise AwsError("InvalidPartOrder", "The list of parts was not in ascending "
                               "order. The parts list must be specified in order by part "
                               "number.", 400)
            part = known.get(number)
            if part is None or etag.strip('"') != part.md5 or (
                    checksum and base64.b64encode(part.sha256).decode() != checksum):
                raise AwsError("InvalidPart", "One or more of the specified parts could not "
                               "be found. The part may not have been uploaded, or the "
                               "specified entity tag may not have matched the part's entity "
                               "tag.", 400)
            if chosen and chosen[-1].size < MIN_PART:
                raise AwsError("EntityTooSmall", "Your proposed upload is smaller than the "
                               "minimum allowed object size.", 400)
            chosen.append(part)
        composite = _composite([part.sha256 for part in chosen])  # no part read again
        etag = hashlib.md5(b"".join(bytes.fromhex(p.md5) for p in chosen)).hexdigest()
        key = self._store(backend, bucket, multipart, [n for n, _, _ in listed],
                          f"{etag}-{len(chosen)}", composite, len(chosen))
        self.forget(multipart.id)
        name = multipart.key_name
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Location>http://{escape(bucket.name)}.s3.amazonaws.com/{escape(name)}"
                f"</Location><Bucket>{escape(bucket.name)}</Bucket><Key>{escape(name)}</Key>"
                f"<ETag>{escape(key.etag)}</ETag><ChecksumSHA256>{composite}</ChecksumSHA256>"
                "<ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>")
        answer = {"Content-Type": "application/xml"}
        if key.version_id and key.version_id != "null":
            answer["x-amz-version-id"] = key.version_id
        return Reply(200, body.encode(), answer)

    def _store(self, backend: Any, bucket: Any, multipart: Any, numbers: list[int],
               etag: str, composite: str, count: int) -> Any:
        """The object, made by moto's put_object empty, then filled with each part's bytes
        copied once; the upload is then gone, as moto's own Complete leaves it."""
        key = backend.put_object(bucket.name, multipart.key_name, b"",
                                 storage=multipart.storage, etag=etag, multipart=multipart,
                                 disable_notification=True)
        size = 0
        with key.lock:
            for number in numbers:
                part = multipart.parts[number]
                with part.lock:
                    _append(part._value_buffer, key._value_buffer, part.contentsize)
                size += part.contentsize
            key.contentsize = size
        key.set_metadata(multipart.metadata)
        key.checksum_algorithm = "SHA256"
        key.checksum_type = "COMPOSITE"
        key.checksum_value = composite
        key.checksum_parts = count
        bucket.multiparts.pop(multipart.id, None)
        backend.put_object_tagging(key, multipart.tags)
        backend.put_object_acl(bucket_name=bucket.name, key_name=key.name, acl=multipart.acl,
                               disable_notification=True)
        multipart.dispose()
        return key

    def _multipart(self, request: AwsRequest) -> tuple[Any, tuple[Any, Any]]:
        """The upload the request names, or 404 NoSuchUpload (moto's own exceptions for a
        missing bucket are turned into S3's error by the caller's fallback: None)."""
        account = self._gateway.account_of(request.access_key,
                                           request.headers.get("x-moto-account-id"))
        backend = s3_backends[account]["aws"]
        bucket_name = _bucket_of(request)
        bucket = backend.buckets.get(bucket_name)
        if bucket is None:
            raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404)
        multipart = bucket.multiparts.get(request.query_value("uploadId") or "")
        if multipart is None:
            raise AwsError("NoSuchUpload", "The specified upload does not exist. The upload "
                           "ID may be invalid, or the upload may have been aborted or "
                           "completed.", 404)
        return multipart, (backend, bucket)


def _value_buffer(body: bytes) -> Any:
    """The value buffer moto's FakeKey would hold for `body` (in memory up to moto's
    limit, a file past it), written once: moto writes a large part into memory, then
    copies it all again into the file it rolls over to."""
    limit = get_s3_default_key_buffer_size()
    buffer = tempfile.SpooledTemporaryFile(limit)  # noqa: SIM115 - the key keeps it open
    if len(body) > limit:
        buffer.rollover()
    buffer.write(body)
    return buffer


def _append(source: Any, target: Any, size: int) -> None:
    """Append the `size` bytes of one value buffer (a SpooledTemporaryFile) to another.
    A part larger than moto's in-memory limit is a file, and so is then the object it
    goes into (moto would roll it over too): copy_file_range copies it inside the
    kernel, one copy instead of a read and a write through this process (which made
    most of a large Complete's time, the client waiting on it). Else, or where the
    kernel refuses, through a buffer."""
    source.seek(0)
    copied = 0
    if getattr(source, "_rolled", False):
        target.rollover()
        source.flush()
        target.flush()
        with contextlib.suppress(OSError):
            while copied < size:
                step = os.copy_file_range(source.fileno(), target.fileno(), size - copied,
                                          copied)
                if not step:
                    break
                copied += step
        target.seek(0, os.SEEK_END)  # the file object learns where the copy left it
        source.seek(copied)
    if copied < size:
        shutil.copyfileobj(source, target, COPY_PIECE)


def _streaming(headers: Any) -> bool:
    return "aws-chunked" in str(headers.get("content-encoding", "")) or str(
        headers.get("x-amz-content-sha256", "")).startswith("STREAMING")


def _bucket_of(request: AwsRequest) -> str:
    bucket = request.path_params.get("Bucket")
    if bucket:
        return bucket
    host = str(request.headers.get("host", "")).split(":")[0]
    if ".s3." in host or host.endswith(".localhost"):
        return host.split(".")[0]
    return request.path.lstrip("/").split("/", 1)[0]


def _listed_parts(body: bytes) -> list[tuple[int, str, str]]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        root = None
    listed: list[tuple[int, str, str]] = []
    for part in root.iter() if root is not None else ():
        if _local(part.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in part}
        number = fields.get("PartNumber", "")
        if not number.isdigit():
            listed = []
            break
        listed.append((int(number), fields.get("ETag", ""), fields.get("ChecksumSHA256", "")))
    if not listed:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed or did not "
                       "validate against our published schema.", 400)
    return listed


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _composite(digests: list[bytes]) -> str:
    return base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()


def _algorithm(multipart: Any) -> str:
    return str(multipart.metadata.get("x-amz-checksum-algorithm") or "").upper()
