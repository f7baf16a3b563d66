"""S3 multipart upload as the archive is produced, and verified part-by-part download.

MultipartWriter takes the archive's bytes as they come, cuts them into parts (8 MiB,
growing every 1,000 parts so 10,000 parts reach hundreds of GiB), and on its own small
pool of IN_FLIGHT upload threads transforms each part if asked (a PartTransform: the
snapshot's encryption, sealed there rather than on the thread that feeds the writer),
hashes it (SHA-256, also sent as the part's ChecksumSHA256 so S3 refuses a part damaged
on the way) and uploads it while the next part fills, in buffers that are reused:
memory stays bounded whatever the tree size and nothing is written to local disk. Any
failure, and a cancel, aborts the multipart upload (S3 charges for forgotten ones).

PartReader reads the parts a manifest lists (one stream, a few parts ahead, opened
again where it broke) and checks each part's size and SHA-256 before handing its bytes
on. This module must not know
what the bytes mean (tar, zstd, frames).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from controller.snapshots.manifest import Part

PART_SIZE = 8 << 20
MAX_PART_SIZE = 32 << 20
PARTS_PER_STEP = 1000
MAX_PARTS = 10_000
# Parts uploading at once while the next fills: 4 kept the emulator's S3 (threaded)
# busy where 2 left it waiting (bench/snapshot.py); memory is (IN_FLIGHT + 1) x part size
# (IN_FLIGHT + 2 when the parts are sealed: MultipartWriter).
IN_FLIGHT = 4


class PartTransform(Protocol):
    """What a part becomes before it is hashed and uploaded (frames.PartSealer). A part
    is the `length` bytes written from `offset` on; parts start at multiples of
    PART_SIZE and every part but the last is a whole part size."""

    def sealed_size(self, offset: int, length: int, last: bool) -> int: ...

    def seal_into(self, offset: int, plain: memoryview, last: bool, out: bytearray) -> int: ...


class Cancelled(Exception):  # noqa: N818 - a request, not a failure
    """The job was asked to stop (controller stopping, lease lost)."""


class ChecksumMismatch(Exception):
    """A stored part is not what its manifest says: tampered, truncated or damaged."""


def part_size_for(number: int) -> int:
    return min(MAX_PART_SIZE, PART_SIZE * (1 + (number - 1) // PARTS_PER_STEP))


class MultipartWriter:
    """Cuts the bytes written into parts and uploads up to IN_FLIGHT of them at once
    while the next part fills. Parts are filled in place in IN_FLIGHT + 1 buffers that
    are reused (no bytes object per part, no joins), and each part is transformed (when
    `transform` is given) and hashed on its upload thread, so the producer only copies
    its chunk into the buffer. Memory: (IN_FLIGHT + 1) part buffers; with a transform,
    one output buffer per upload thread and only 2 input buffers, a part's input being
    handed back as soon as it is transformed, before it uploads: (IN_FLIGHT + 2).

    A full part is sent only once the next byte comes (or at complete()): until then
    it cannot be known to be the last, which the transform must know."""

    def __init__(self, s3: Any, bucket: str, key: str,
                 cancelled: Callable[[], bool] = lambda: False,
                 metadata: dict[str, str] | None = None,
                 transform: PartTransform | None = None) -> None:
        self._s3 = s3
        self.bucket, self.key = bucket, key
        self._cancelled = cancelled
        created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256",
                                             Metadata=metadata or {})
        self.upload_id: str = created["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="s3-part")
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._buffers = 0  # made so far, at most _input_buffers
        # A transformed part gives its input buffer back within milliseconds, before it
        # uploads: one filling and one waiting for an upload thread keep IN_FLIGHT busy.
        self._input_buffers = 2 if transform is not None else IN_FLIGHT + 1
        self._current: bytearray | None = None
        self._filled = 0
        self._offset = 0  # where the part filling now starts in the bytes written
        self._transform = transform
        self._outputs = threading.local()  # each upload thread's transform buffer
        self._failed: BaseException | None = None
        self._futures: list[Future[tuple[Part, dict[str, Any]]]] = []
        self._done: dict[int, Part] = {}
        self.bytes_written = 0
        self._finished = False

    @property
    def parts(self) -> list[Part]:
        """The parts uploaded so far, in order."""
        return [self._done[number] for number in sorted(self._done)]

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.bytes_written += len(view)
        while len(view):
            if self._current is not None and self._filled == len(self._current):
                self._submit(last=False)  # more bytes came: the full part was not the last
            if self._current is None:
                self._current = self._buffer(part_size_for(len(self._futures) + 1))
                self._filled = 0
            room = len(self._current) - self._filled
            taken = min(room, len(view))
            self._current[self._filled:self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]

    def _buffer(self, size: int) -> bytearray:
        """A free part buffer of `size` bytes: one given back, else a new one while fewer
        than the writer's limit exist, else the next one given back (this is what bounds
        memory)."""
        while True:
            self._check_failed()
            try:
                buffer = self._free.get_nowait()
            except queue.Empty:
                if self._buffers < self._input_buffers:
                    self._buffers += 1
                    return bytearray(size)
                try:
                    buffer = self._free.get(timeout=0.1)
                except queue.Empty:
                    continue
            # Parts grow every PARTS_PER_STEP parts: a smaller buffer is made again.
            return buffer if len(buffer) == size else bytearray(size)

    def _submit(self, last: bool) -> None:
        """Send the part filling now (its offset, so a transform's nonces, fixed here)."""
        buffer, length, offset = self._current or bytearray(), self._filled, self._offset
        self._current, self._filled, self._offset = None, 0, offset + length
        if self._cancelled():
            self._free.put(buffer)
            raise Cancelled("stopped while uploading")
        number = len(self._futures) + 1
        if number > MAX_PARTS:
            self._free.put(buffer)
            raise RuntimeError(f"the archive needs more than {MAX_PARTS} parts")
        self._check_failed()
        future = self._pool.submit(self._upload, number, buffer, length, offset, last)
        future.add_done_callback(self._note_failure)
        self._futures.append(future)

    def _upload(self, number: int, buffer: bytearray, length: int, offset: int, last: bool
                ) -> tuple[Part, dict[str, Any]]:
        given_back = False
        body: bytes | bytearray
        try:
            if self._transform is not None:
                body = self._output(self._transform.sealed_size(offset, length, last))
                with memoryview(buffer) as view, view[:length] as plain:
                    size = self._transform.seal_into(offset, plain, last, body)
                self._free.put(buffer)  # the producer may fill it while this part uploads
                given_back = True
            else:
                # botocore takes bytes or bytearray, not a memoryview: only a short last
                # part is copied out of its buffer.
                body = buffer if length == len(buffer) else bytes(memoryview(buffer)[:length])
                size = length
            digest = hashlib.sha256(body)
            checksum = base64.b64encode(digest.digest()).decode()
            answer = self._s3.upload_part(Bucket=self.bucket, Key=self.key,
                                          UploadId=self.upload_id, PartNumber=number,
                                          Body=body, ChecksumSHA256=checksum)
        finally:
            if not given_back:
                self._free.put(buffer)
        part = Part(number, size, digest.hexdigest())
        self._done[number] = part
        return part, {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

    def _output(self, size: int) -> bytearray:
        """This upload thread's output buffer, exactly `size` bytes (botocore sends the
        whole buffer): made again only when the size changes (the first part, which
        carries a header, the last, and every PARTS_PER_STEP parts)."""
        buffer: bytearray | None = getattr(self._outputs, "buffer", None)
        if buffer is None or len(buffer) != size:
            # The old one is let go before the new one is made: both at once is one part
            # more than the writer's bound (seen under load in CI).
            buffer = self._outputs.buffer = None
            buffer = self._outputs.buffer = bytearray(size)
        return buffer

    def _note_failure(self, future: Future[tuple[Part, dict[str, Any]]]) -> None:
        if not future.cancelled() and future.exception() is not None and self._failed is None:
            self._failed = future.exception()

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def complete(self) -> list[Part]:
        """Upload what is left and complete the upload; the object exists from now on."""
        if self._current is not None or not self._futures:
            self._submit(last=True)
        uploaded = [future.result() for future in self._futures]
        self._pool.shutdown()
        completed = [answer for _, answer in uploaded]
        if self._cancelled():  # asked to stop while the last parts went up: not completed
            raise Cancelled("stopped while uploading")
        try:
            self._s3.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": completed})
        except ClientError as error:
            # A Complete retried after its answer was lost (a timeout): S3 has completed
            # the upload and forgotten its id. The object counts only if it is ours.
            if error.response.get("Error", {}).get("Code") != "NoSuchUpload" or \
                    not self._completed_already([c["ChecksumSHA256"] for c in completed]):
                raise
        self._finished = True
        return [part for part, _ in uploaded]

    def _completed_already(self, checksums: list[str]) -> bool:
        """Whether the key holds the object these parts make: S3's composite SHA-256
        (of the parts' SHA-256 digests; S3 writes the part count after a dash, moto
        does not) matches."""
        digests = b"".join(base64.b64decode(checksum) for checksum in checksums)
        expected = base64.b64encode(hashlib.sha256(digests).digest()).decode()
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=self.key,
                                        ChecksumMode="ENABLED")
        except ClientError:
            return False
        found = str(head.get("ChecksumSHA256") or "")
        return found in (expected, f"{expected}-{len(checksums)}")

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
    """Yields each listed part's bytes after checking its size and SHA-256.

    The archive is read as one stream (a GET from the first part not yet verified to the
    end), cut at the manifest's part boundaries: S3 serves it at a connection's full
    speed and the emulator does not re-read the whole object for every part as it does
    for ranged GETs. A download running ahead on its own thread keeps up to `ahead`
    parts ready while the consumer works. A stream that breaks (connection reset,
    timeout, throttled) is opened again from the part it was in, a few times.
    """

    def __init__(self, s3: Any, bucket: str, key: str, parts: tuple[Part, ...],
                 cancelled: Callable[[], bool] = lambda: False, ahead: int = 2,
                 attempts: int = 4) -> None:
        self._s3 = s3
        self.bucket, self.key = bucket, key
        self.parts = parts
        self._cancelled = cancelled
        self._ahead = max(1, ahead)
        self._attempts = attempts

    def __iter__(self) -> Iterator[bytes]:
        ready: queue.Queue[bytes | BaseException | None] = queue.Queue(self._ahead)
        stop = threading.Event()
        thread = threading.Thread(target=self._download, args=(ready, stop),
                                  name="s3-get", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if self._cancelled():
                    raise Cancelled("stopped while downloading")
                yield item
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    ready.get_nowait()  # unblock a download waiting for room
            thread.join()

    def _download(self, ready: queue.Queue[bytes | BaseException | None],
                  stop: threading.Event) -> None:
        def put(item: bytes | BaseException | None) -> bool:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    ready.put(item, timeout=0.1)
                    return True
            return False

        try:
            for data in self._verified_parts(stop):
                if not put(data):
                    return
            put(None)
        except BaseException as error:  # handed to the consumer, who raises it
            put(error)

    def _verified_parts(self, stop: threading.Event) -> Iterator[bytes]:
        index, offset, failures = 0, 0, 0
        while index < len(self.parts) and not stop.is_set():
            try:
                # From the start, a plain GET: a Range would make the emulator read the
                # whole object before it sends a byte.
                ranged = {"Range": f"bytes={offset}-"} if offset else {}
                body = self._s3.get_object(Bucket=self.bucket, Key=self.key,
                                           **ranged)["Body"]
                while index < len(self.parts) and not stop.is_set():
                    part = self.parts[index]
                    data = _read_exactly(body, part.size)
                    _check(self.bucket, self.key, part, data)
                    yield data
                    index, offset, failures = index + 1, offset + part.size, 0
                body.close()
            except (BotoCoreError, ConnectionError, TimeoutError) as error:
                failures += 1
                if failures >= self._attempts:
                    raise
                time.sleep(min(2.0, 0.1 * 2 ** failures))
                del error  # opened again from the part it broke in


def _read_exactly(body: Any, size: int) -> bytes:
    """`size` bytes of the stream (fewer only at its end), in one buffer when it can."""
    data = body.read(size) if size else b""
    if len(data) == size or not data:
        return data  # type: ignore[no-any-return]
    chunks, wanted = [data], size - len(data)
    while wanted:
        chunk = body.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _check(bucket: str, key: str, part: Part, data: bytes) -> None:
    if len(data) != part.size:
        raise ChecksumMismatch(f"part {part.number} of s3://{bucket}/{key} has {len(data)} "
                               f"bytes, the manifest says {part.size}: truncated or replaced")
    if hashlib.sha256(data).hexdigest() != part.sha256:
        raise ChecksumMismatch(f"part {part.number} of s3://{bucket}/{key} does not match "
                               "its SHA-256 in the manifest: tampered or damaged")
