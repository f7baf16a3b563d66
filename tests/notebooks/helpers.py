"""Helpers for the notebook instance tests: an estate with one notebook, and passes that
let AWS finish moving an instance (Pending, Stopping, Updating) between them."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from controller.clock import ManualClock
from controller.emulator import Emulator
from controller.loop.reconciler import PassResult, Reconciler
from controller.model import DesiredState
from tests.example_estate import copy_example

NAME = "research-notebook"
BUSY = ("Pending", "Stopping", "Updating", "Deleting")


def estate_with_notebook(folder: Path, **changes: str) -> Path:
    """The example estate; `changes` replace lines of its notebook's spec by key
    (instanceType="ml.t3.large", stopForUpdates="true", ...), adding the missing ones."""
    copy_example(folder)
    notebook = folder / "notebooks.yaml"
    lines = notebook.read_text(encoding="utf-8").splitlines()
    for key, value in changes.items():
        prefix = f"  {key}:"
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        if found:
            lines[found[0]] = f"{prefix} {value}"
        else:
            lines.append(f"{prefix} {value}")
    notebook.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def sagemaker(aws: Emulator, region: str = "us-east-1"):  # type: ignore[no-untyped-def]
    return boto3.client("sagemaker", region_name=region, endpoint_url=aws.endpoint_url)


def describe(aws: Emulator, name: str = NAME) -> dict:
    return sagemaker(aws).describe_notebook_instance(NotebookInstanceName=name)


def tags(aws: Emulator, name: str = NAME) -> dict[str, str]:
    client = sagemaker(aws)
    arn = client.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceArn"]
    return {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=arn)["Tags"]}


def settle(aws: Emulator, name: str = NAME, timeout: float = 30.0) -> str:
    """Wait until AWS has finished moving the instance; its status then ("absent": none)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = describe(aws, name)["NotebookInstanceStatus"]
        except ClientError:
            return "absent"
        if status not in BUSY:
            return status
        assert time.monotonic() < deadline, f"{name} stayed {status}"
        time.sleep(0.02)


def passes_until_settled(rec: Reconciler, desired: DesiredState, clock: ManualClock,
                         aws: Emulator, max_passes: int = 15) -> list[PassResult]:
    """Passes, each after AWS has settled the instance, until one plans nothing for it."""
    results = []
    for _ in range(max_passes):
        settle(aws)
        result = rec.reconcile(desired)
        results.append(result)
        if not any(a.key.kind == "NotebookInstance" for a in result.plan.actions):
            return results
        rec.queue.pop_ready()
        clock.advance(60)
    raise AssertionError(f"the notebook instance did not settle in {max_passes} passes")


def actions_of(results: list[PassResult]) -> list[str]:
    """The notebook actions that succeeded, pass after pass."""
    return [o.action for r in results for o in r.outcomes
            if o.key.kind == "NotebookInstance" and o.outcome == "ok"]
