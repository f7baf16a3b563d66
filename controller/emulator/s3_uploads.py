"""S3 multipart uploads dated as AWS dates them, and forgotten once they end.

moto answers ListMultipartUploads with the same `Initiated` date for every upload
(2010-11-10T20:48:33Z), where S3 gives the time each upload was created. The operator
tells a left-over upload (a killed controller's) from one in flight (a command-line
snapshot) by that date, so the emulator must give the real one: this extension passes
CreateMultipartUpload to moto and notes when each upload id was made, and writes those
times into moto's ListMultipartUploads answer. S3 forgets an upload id once its upload
completed or was aborted: a CompleteMultipartUpload sent again (a client retrying after a
timeout) is 404 NoSuchUpload (the API reference's strict reading; moto answers 200 while
the object is still the upload's and 500 after an abort), and so is a part sent to an
ended upload (moto: 500). UploadPart and CompleteMultipartUpload of a SHA-256 upload are
served by s3_parts.py (the same checks, stricter, without moto's copies). Everything
else is moto's.
This module must not change what moto stores.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsRequest, Reply, error_reply
from controller.emulator.s3_parts import S3PartStore

_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_UPLOAD = re.compile(rb"<Upload>.*?</Upload>", re.DOTALL)
_INITIATED = re.compile(rb"<Initiated>[^<]*</Initiated>")


class S3MultipartDates:
    def __init__(self, gateway: MotoGateway,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._gateway = gateway
        self._now = now
        self._parts = S3PartStore(gateway)  # UploadPart and Complete without moto's copies
        self._lock = threading.Lock()
        self._initiated: dict[bytes, bytes] = {}  # upload id -> its date, as S3 writes it
        self._ended: set[str] = set()  # upload ids completed or aborted

    def reset(self) -> None:
        with self._lock:
            self._initiated.clear()
            self._ended.clear()
        self._parts.reset()

    def handle(self, request: AwsRequest) -> Reply | None:
        if request.key in ("s3:CompleteMultipartUpload", "s3:AbortMultipartUpload"):
            return self._end(request)
        if request.key == "s3:UploadPart":
            return self._no_such_upload() if self._has_ended(request) else \
                self._parts.upload_part(request)
        if request.key not in ("s3:CreateMultipartUpload", "s3:ListMultipartUploads"):
            return None
        when = self._now()
        status, headers, body = self._gateway.call(request.environ)
        if status != 200:
            return Reply(status, body, headers)
        if request.key == "s3:CreateMultipartUpload":
            found = _UPLOAD_ID.search(body)
            if found:
                stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
                with self._lock:
                    self._initiated[found.group(1)] = stamp.encode()
            return Reply(status, body, headers)
        return Reply(status, _UPLOAD.sub(self._dated, body), headers)

    def _has_ended(self, request: AwsRequest) -> bool:
        with self._lock:
            return (request.query_value("uploadId") or "") in self._ended

    @staticmethod
    def _no_such_upload() -> Reply:
        return error_reply("rest-xml", "NoSuchUpload", "The specified upload does not exist."
                           " The upload ID may be invalid, or the upload may have been"
                           " aborted or completed.", 404)

    def _end(self, request: AwsRequest) -> Reply:
        upload_id = request.query_value("uploadId") or ""
        if request.key == "s3:CompleteMultipartUpload" and self._has_ended(request):
            return self._no_such_upload()
        fast = self._parts.complete(request) if request.key == "s3:CompleteMultipartUpload" \
            else None
        if fast is not None:
            status, headers, body = fast.status, fast.headers, fast.body
        else:
            status, headers, body = self._gateway.call(request.environ)
        # A Complete can fail inside a 200 (its body is then an <Error>).
        if status in (200, 204) and b"<Error>" not in body[:512]:
            with self._lock:
                self._ended.add(upload_id)
            self._parts.forget(upload_id)
        return Reply(status, body, headers)

    def _dated(self, upload: re.Match[bytes]) -> bytes:
        block = upload.group(0)
        found = _UPLOAD_ID.search(block)
        with self._lock:
            stamp = self._initiated.get(found.group(1)) if found else None
        if stamp is None:
            return block  # made before this emulator started: moto's date stays
        return _INITIATED.sub(b"<Initiated>" + stamp + b"</Initiated>", block)
