"""The executor's own checks before a migration's old notebook instance is deleted.

The plan asks for DeleteNotebookInstance only after the new instance's restore marker and
the old instance's seal (controller.notebooks.migration); this module checks both again
from AWS itself, just before the call, so that a wrong plan, a stale observation or a
user acting in between deletes nothing:
- restored: the marker restored/<new> beside the snapshot exists, was written after the
  new instance was created, and names the snapshot and the new instance;
- sealed: the old instance is Failed with the seal config attached (its last start was
  the seal's, so it has not been InService since), and the record's final snapshot is
  complete (COMPLETE naming the old instance, a manifest for it, an archive of the
  manifest's size), made during that start, after the stop before it.
Any check that fails raises TerminalError (RequeueAfter while AWS is still moving the
instance); S3 or SageMaker errors are classified as everywhere. It must not call
anything that changes AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from controller.actions.classify import classify, error_code
from controller.actions.context import SETTLE_SECONDS
from controller.errors import RequeueAfter, TerminalError
from controller.notebooks.migration import SEAL_WINDOW_SECONDS
from controller.snapshots.manifest import ManifestError, object_key, parse_id, time_of_stamp

_MISSING = ("404", "NoSuchKey", "NotFound")


def check_restored(s3: Any, sagemaker: Any, params: Mapping[str, Any]) -> None:
    name, new, bucket, key = (params["NotebookInstanceName"], params["NewInstance"],
                              params["Bucket"], params["RestoredKey"])
    refused = f"{name} is not deleted: {new} has not restored its data"
    marker = _get(s3, bucket, key, f"{refused} (no s3://{bucket}/{key})", "NotRestored")
    try:
        created = sagemaker.describe_notebook_instance(NotebookInstanceName=new)["CreationTime"]
    except Exception as error:
        if error_code(error) == "ValidationException":
            raise TerminalError("NotRestored", f"{refused} ({new} does not exist)") from error
        raise classify(error) from error
    if _epoch(marker["LastModified"]) < int(_epoch(created)):
        raise TerminalError("NotRestored", f"{refused}: s3://{bucket}/{key} was written "
                                           f"before {new} was created (not its restore)")
    body = _json(marker)
    if body.get("snapshot") != params["Snapshot"] or body.get("instance") != new:
        raise TerminalError("NotRestored", f"{refused}: s3://{bucket}/{key} does not name "
                                           f"{params['Snapshot']} and {new}")


def check_sealed(s3: Any, params: Mapping[str, Any], described: Mapping[str, Any]) -> None:
    """`described`: the old instance's DescribeNotebookInstance answer, read just now."""
    name, bucket, snapshot = (params["NotebookInstanceName"], params["Bucket"],
                              params["FinalSnapshot"])
    status = described["NotebookInstanceStatus"]
    if status in ("Pending", "Stopping", "Updating", "Deleting"):
        raise RequeueAfter(SETTLE_SECONDS, f"{name} is {status}")
    attached = described.get("NotebookInstanceLifecycleConfigName")
    if status != "Failed" or attached != params["SealConfig"]:
        raise TerminalError("NotSealed", (
            f"{name} is not deleted: it is {status} with lifecycle config {attached}, not "
            f"sealed (Failed after a start with {params['SealConfig']}), so its volume may "
            "hold work no snapshot has"))
    refused = f"{name} is not deleted: its sealing snapshot {snapshot!r}"
    try:
        _policy, source, stamp = parse_id(snapshot)
        made = time_of_stamp(stamp)
    except (ManifestError, ValueError) as error:
        raise TerminalError("NotSealed", f"{refused} is not a snapshot id") from error
    ended = _epoch(described.get("LastModifiedTime"))
    if source != f"notebook/{params['Notebook']}" or not (
            made >= float(params["SealedAfter"]) - 1
            and ended - SEAL_WINDOW_SECONDS <= made <= ended + 1):
        raise TerminalError("NotSealed", f"{refused} was not made by its sealing start")
    prefix = params["Prefix"]
    complete = _json(_get(s3, bucket, object_key(prefix, snapshot, "COMPLETE"),
                          f"{refused} is not complete", "NotSealed"))
    if complete.get("instance") != name or complete.get("snapshot") != snapshot:
        raise TerminalError("NotSealed", f"{refused} was not made by {name}")
    manifest = _json(_get(s3, bucket, object_key(prefix, snapshot, "manifest.json"),
                          f"{refused} has no manifest", "NotSealed"))
    if manifest.get("id") != snapshot or not isinstance(manifest.get("archive_key"), str):
        raise TerminalError("NotSealed", f"{refused} has a manifest of another snapshot")
    try:
        size = s3.head_object(Bucket=bucket, Key=manifest["archive_key"])["ContentLength"]
    except Exception as error:
        if error_code(error) in _MISSING:
            raise TerminalError("NotSealed", f"{refused} has no archive") from error
        raise classify(error) from error
    if size != manifest.get("bytes_out"):
        raise TerminalError("NotSealed", f"{refused}'s archive is {size} bytes, its "
                                         f"manifest says {manifest.get('bytes_out')}")


def _get(s3: Any, bucket: str, key: str, refused: str, code: str) -> dict[str, Any]:
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        return {"LastModified": answer["LastModified"], "Body": answer["Body"].read(65536)}
    except Exception as error:
        if error_code(error) in _MISSING:
            raise TerminalError(code, refused) from error
        raise classify(error) from error


def _json(answer: Mapping[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(answer["Body"])
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)
