"""A DataSync task execution running in the background on the emulator's folders.

Each execution gets a thread that moves it QUEUED, LAUNCHING, PREPARING (the source is
listed), TRANSFERRING, VERIFYING, then SUCCESS or ERROR, one emulator transition time per
step, copying with datasync_copy's rules between the two locations' subdirectories of
their file systems' folders. A location whose file system folder is gone fails the
execution at LAUNCHING, as DataSync fails to mount. While it transfers, a cancellation,
or the task's Region going down (a fault plan failing every DataSync call there), stops
it between two chunks of a file, which stays truncated at the destination; a bandwidth
(`bytes_per_second`, 0: unlimited) paces the writes, so that tests can stop it mid-file.
This module must not answer API calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.emulator import datasync_copy as copy
from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import EmulatorConfig, epoch
from controller.emulator.moto_gateway import MotoGateway

DONE = ("SUCCESS", "ERROR")


@dataclass
class Execution:
    arn: str
    options: dict[str, Any]
    source: dict[str, Any]
    target: dict[str, Any]
    start_time: float
    status: str = "QUEUED"
    cancel: bool = False
    counts: copy.Counts = field(default_factory=copy.Counts)
    result: dict[str, Any] = field(default_factory=dict)
    end_time: float | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE

    def describe(self) -> dict[str, Any]:
        c = self.counts
        answer: dict[str, Any] = {
            "TaskExecutionArn": self.arn, "Status": self.status, "Options": self.options,
            "Excludes": [], "Includes": [], "StartTime": self.start_time, "TaskMode": "BASIC",
            "EstimatedFilesToTransfer": c.files_listed,
            "EstimatedBytesToTransfer": c.bytes_estimated,
            "FilesTransferred": c.files_transferred, "BytesWritten": c.bytes_written,
            "BytesTransferred": c.bytes_written, "BytesCompressed": 0,
            "FilesSkipped": c.files_skipped, "FilesDeleted": c.files_deleted,
            "FilesVerified": c.files_verified, "FoldersTransferred": c.folders_transferred,
            "Result": dict(self.result)}
        if self.end_time is not None:
            answer["EndTime"] = self.end_time
        return answer


@dataclass
class ExecutionRunner:
    config: EmulatorConfig
    folders: EfsFolders
    lock: threading.Lock
    region_down: Callable[[str, str], bool] = lambda region, service: False
    bytes_per_second: float = 0.0

    def _guard(self, execution: Execution) -> copy.Guard:
        region = execution.arn.split(":")[3]

        def guard(written: int) -> None:
            if execution.cancel:
                raise copy.Cancelled()
            if self.region_down(region, "datasync"):
                raise copy.Interrupted(f"the DataSync service of {region} became unavailable "
                                       "during the transfer")
            if written and self.bytes_per_second > 0:
                time.sleep(written / self.bytes_per_second)
        return guard

    def start(self, execution: Execution, gateway: MotoGateway) -> None:
        threading.Thread(target=self._run, args=(execution,), daemon=True,
                         name=f"datasync-{execution.arn[-8:]}").start()

    def _step(self, execution: Execution, status: str) -> bool:
        """Move on to `status` after a transition time; False once cancelled."""
        time.sleep(self.config.transition_seconds)
        with self.lock:
            if execution.cancel:
                return False
            execution.status = status
        return True

    def _run(self, execution: Execution) -> None:
        began = time.monotonic()
        try:
            source = self._folder(execution.source)
            target = self._folder(execution.target)
            if not self._step(execution, "LAUNCHING"):
                return self._end(execution, "OpCancelled", "Cancelled by the user.")
            for folder, where in ((source, execution.source), (target, execution.target)):
                if not self.folders.path(where["_fs"]).is_dir() or (
                        where is execution.source and not folder.is_dir()):
                    return self._end(execution, "MountFailed", "DataSync could not mount "
                                     f"the EFS location {where['LocationUri']}.")
            if not self._step(execution, "PREPARING"):
                return self._end(execution, "OpCancelled", "Cancelled by the user.")
            copy.estimate(source, execution.counts)
            if not self._step(execution, "TRANSFERRING"):
                return self._end(execution, "OpCancelled", "Cancelled by the user.")
            copy.transfer(source, target, execution.options, execution.counts,
                          self._guard(execution))
            if not self._step(execution, "VERIFYING"):
                return self._end(execution, "OpCancelled", "Cancelled by the user.")
            wrong = copy.verify(source, target, execution.options, execution.counts)
            if wrong:
                return self._end(execution, "VerificationFailed",
                                 f"{len(wrong)} files differ at the destination, "
                                 f"the first {wrong[0]!r}.", verify="ERROR")
            self._end(execution, None, None, began=began)
        except copy.Cancelled:
            self._end(execution, "OpCancelled", "Cancelled by the user.")
        except copy.Interrupted as error:
            self._end(execution, "TransferInterrupted", str(error))
        except OSError as error:
            self._end(execution, "TransferFailed", f"{type(error).__name__}: {error}")

    def _folder(self, location: dict[str, Any]) -> Path:
        parts = [p for p in location["_subdirectory"].split("/") if p]
        return self.folders.path(location["_fs"]).joinpath(*parts)

    def _end(self, execution: Execution, code: str | None, detail: str | None,
             verify: str = "SUCCESS", began: float | None = None) -> None:
        with self.lock:
            execution.status = "ERROR" if code else "SUCCESS"
            execution.end_time = epoch(self.config.clock())
            execution.result = {
                "PrepareStatus": "SUCCESS", "TransferStatus": "ERROR" if code and
                verify == "SUCCESS" else "SUCCESS", "VerifyStatus": verify,
                "TotalDuration": int((time.monotonic() - (began or time.monotonic())) * 1000),
                **({"ErrorCode": code, "ErrorDetail": detail} if code else {})}
