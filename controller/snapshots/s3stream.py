"""S3 multipart upload as the archive is produced, and verified part-by-part download.

MultipartWriter takes the archive's bytes as they come, cuts them into parts (8 MiB,
growing every 1,000 parts so 10,000 parts reach hundreds of GiB), hashes each part
(SHA-256, also sent as the part's ChecksumSHA256 so S3 refuses a part damaged on the
way) and uploads at most IN_FLIGHT parts at once on its own small thread pool: memory
stays bounded whatever the tree size and nothing is written to local disk. Any failure,
and a cancel, aborts the multipart upload (S3 charges for forgotten ones).

PartReader fetches the parts a manifest lists (ranged GETs, a few ahead) and checks
each part's size and SHA-256 before handing its bytes on. This module must not know
what the bytes mean (tar, zstd, frames).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from controller.snapshots.manifest import Part

PART_SIZE = 8 << 20
MAX_PART_SIZE = 32 << 20
PARTS_PER_STEP = 1000
MAX_PARTS = 10_000
IN_FLIGHT = 2


class Cancelled(Exception):  # noqa: N818 - a request, not a failure
    """The job was asked to stop (controller stopping, lease lost)."""


class ChecksumMismatch(Exception):
    """A stored part is not what its manifest says: tampered, truncated or damaged."""


def part_size_for(number: int) -> int:
    return min(MAX_PART_SIZE, PART_SIZE * (1 + (number - 1) // PARTS_PER_STEP))


class MultipartWriter:
    def __init__(self, s3: Any, bucket: str, key: str,
                 cancelled: Callable[[], bool] = lambda: False,
                 metadata: dict[str, str] | None = None) -> None:
        self._s3 = s3
        self.bucket, self.key = bucket, key
        self._cancelled = cancelled
        created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256",
                                             Metadata=metadata or {})
        self.upload_id: str = created["UploadId"]
        self._buffer = bytearray()
        self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="s3-part")
        self._slots = threading.Semaphore(IN_FLIGHT)
        self._futures: list[Future[dict[str, Any]]] = []
        self.parts: list[Part] = []
        self.bytes_written = 0
        self._finished = False

    def write(self, data: bytes | memoryview) -> None:
        self._buffer += data
        self.bytes_written += len(data)
        while len(self._buffer) >= part_size_for(len(self.parts) + 1):
            size = part_size_for(len(self.parts) + 1)
            chunk = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._submit(chunk)

    def _submit(self, chunk: bytes) -> None:
        if self._cancelled():
            raise Cancelled("stopped while uploading")
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise RuntimeError(f"the archive needs more than {MAX_PARTS} parts")
        digest = hashlib.sha256(chunk)
        self.parts.append(Part(number, len(chunk), digest.hexdigest()))
        self._check_failed()
        self._slots.acquire()
        checksum = base64.b64encode(digest.digest()).decode()
        future = self._pool.submit(self._upload, number, chunk, checksum)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _upload(self, number: int, chunk: bytes, checksum: str) -> dict[str, Any]:
        answer = self._s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                      PartNumber=number, Body=chunk, ChecksumSHA256=checksum)
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

    def _check_failed(self) -> None:
        for future in self._futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def complete(self) -> list[Part]:
        """Upload what is left and complete the upload; the object exists from now on."""
        if self._buffer or not self.parts:
            self._submit(bytes(self._buffer))
            self._buffer.clear()
        completed = [future.result() for future in self._futures]
        self._pool.shutdown()
        self._s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": completed})
        self._finished = True
        return list(self.parts)

    def abort(self) -> None:
        """Stop and abort the upload; S3 drops every part (safe to call twice)."""
        if self._finished:
            return
        self._finished = True
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                        UploadId=self.upload_id)


class PartReader:
    """Yields each listed part's bytes after checking its size and SHA-256."""

    def __init__(self, s3: Any, bucket: str, key: str, parts: tuple[Part, ...],
                 cancelled: Callable[[], bool] = lambda: False, ahead: int = 2) -> None:
        self._s3 = s3
        self.bucket, self.key = bucket, key
        self.parts = parts
        self._cancelled = cancelled
        self._ahead = max(1, ahead)

    def _fetch(self, part: Part, offset: int) -> bytes:
        if part.size == 0:
            return b""
        answer = self._s3.get_object(Bucket=self.bucket, Key=self.key,
                                     Range=f"bytes={offset}-{offset + part.size - 1}")
        return answer["Body"].read()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[bytes]:
        offsets, total = [], 0
        for part in self.parts:
            offsets.append(total)
            total += part.size
        with ThreadPoolExecutor(max_workers=self._ahead, thread_name_prefix="s3-get") as pool:
            futures: list[Future[bytes]] = []
            following = 0
            for index, part in enumerate(self.parts):
                while following < len(self.parts) and following <= index + self._ahead:
                    futures.append(pool.submit(self._fetch, self.parts[following],
                                               offsets[following]))
                    following += 1
                if self._cancelled():
                    raise Cancelled("stopped while downloading")
                data = futures[index].result()
                futures[index] = None  # type: ignore[call-overload]
                if len(data) != part.size:
                    raise ChecksumMismatch(f"part {part.number} of s3://{self.bucket}/{self.key} "
                                           f"has {len(data)} bytes, the manifest says "
                                           f"{part.size}: truncated or replaced")
                if hashlib.sha256(data).hexdigest() != part.sha256:
                    raise ChecksumMismatch(f"part {part.number} of s3://{self.bucket}/{self.key} "
                                           "does not match its SHA-256 in the manifest: "
                                           "tampered or damaged")
                yield data
