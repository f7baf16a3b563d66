"""S3 multipart uploads dated as AWS dates them.

moto answers ListMultipartUploads with the same `Initiated` date for every upload
(2010-11-10T20:48:33Z), where S3 gives the time each upload was created. The operator
tells a left-over upload (a killed controller's) from one in flight (a command-line
snapshot) by that date, so the emulator must give the real one: this extension passes
CreateMultipartUpload to moto and notes when each upload id was made, and writes those
times into moto's ListMultipartUploads answer. Everything else is moto's. This module
must not change what moto stores.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsRequest, Reply

_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
_UPLOAD = re.compile(rb"<Upload>.*?</Upload>", re.DOTALL)
_INITIATED = re.compile(rb"<Initiated>[^<]*</Initiated>")


class S3MultipartDates:
    def __init__(self, gateway: MotoGateway,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._gateway = gateway
        self._now = now
        self._lock = threading.Lock()
        self._initiated: dict[bytes, bytes] = {}  # upload id -> its date, as S3 writes it

    def reset(self) -> None:
        with self._lock:
            self._initiated.clear()

    def handle(self, request: AwsRequest) -> Reply | None:
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

    def _dated(self, upload: re.Match[bytes]) -> bytes:
        block = upload.group(0)
        found = _UPLOAD_ID.search(block)
        with self._lock:
            stamp = self._initiated.get(found.group(1)) if found else None
        if stamp is None:
            return block  # made before this emulator started: moto's date stays
        return _INITIATED.sub(b"<Initiated>" + stamp + b"</Initiated>", block)
