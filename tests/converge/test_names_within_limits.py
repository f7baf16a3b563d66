"""Names the operator makes up fit what AWS accepts: a FileSystem may be named with the
full 63 characters SageMaker names allow, and its CreationToken (1 to 64 characters in
the EFS model; botocore does not check the maximum) still fits, stays the same on every
pass, and the estate converges on it end to end."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.model import FailoverStrategy
from controller.observed import ObservedFileSystem, ObservedReplication
from controller.plan import make_plan
from controller.plan.names import CREATION_TOKEN_LIMIT, creation_token, fitted
from tests.converge.helpers import REGION, converge, plan_now, prepared, reconciler
from tests.plan.estates import PRIMARY, REPLICA, empty, estate

EXAMPLE = Path(__file__).resolve().parents[2] / "desired_state"
LONG = "scratch-space-for-the-research-department-shared-by-all-domains"  # 63
LONG_FILE_SYSTEM = f"""\
---
apiVersion: studio-operator.io/v1alpha1
kind: FileSystem
metadata:
  name: {LONG}
spec:
  regions:
    us-east-1:
      nameTag: {LONG}
      create: true
    us-west-2:
      nameTag: {LONG}
      create: true
---
apiVersion: studio-operator.io/v1alpha1
kind: Share
metadata:
  name: scratch
spec:
  fileSystem: {LONG}
  scope: domain
  path: /scratch/{{domain}}
  mode: "0770"
"""


def _estate_with_a_long_file_system_name(tmp_path: Path) -> Path:
    folder = tmp_path / "desired_state"
    shutil.copytree(EXAMPLE, folder)
    (folder / "scratch.yaml").write_text(LONG_FILE_SYSTEM)
    research = folder / "research.yaml"
    text = research.read_text()
    assert "  shares: [home, team, datasets]\n" in text
    research.write_text(text.replace("  shares: [home, team, datasets]\n",
                                     "  shares: [home, team, datasets, scratch]\n", 1))
    return folder


def test_a_file_system_named_with_63_characters_converges_end_to_end(aws, tmp_path):
    assert len(LONG) == 63
    desired = prepared(aws, load_desired_state(_estate_with_a_long_file_system_name(tmp_path)))
    clock = ManualClock()
    converge(reconciler(aws, clock), desired, clock)
    assert plan_now(aws, desired).actions == ()
    efs = boto3.client("efs", region_name=REGION, endpoint_url=aws.endpoint_url)
    everything = efs.describe_file_systems()["FileSystems"]
    assert all(1 <= len(f["CreationToken"]) <= CREATION_TOKEN_LIMIT for f in everything)
    (made,) = [f for f in everything if f.get("Name") == LONG]
    assert made["CreationToken"] == creation_token(LONG)
    assert (aws.efs_root / made["FileSystemId"] / "scratch" / "research").is_dir()
    sagemaker = boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)
    domain = next(d for d in sagemaker.list_domains()["Domains"]
                  if d["DomainName"] == "research")
    described = sagemaker.describe_domain(DomainId=domain["DomainId"])
    attached = {c["EFSFileSystemConfig"]["FileSystemId"]
                for c in described["DefaultUserSettings"]["CustomFileSystemConfigs"]}
    assert made["FileSystemId"] in attached


def test_a_working_copy_of_a_long_named_file_system_gets_a_token_and_name_that_fit():
    desired = estate({"research": [("alice", 200101, 1001)]})
    spec = desired.file_systems["efs"]
    long_named = replace(spec, name=LONG)
    desired = replace(
        desired,
        estate=replace(desired.estate, active_region=REPLICA,
                       failover_strategy=FailoverStrategy.COPY),
        file_systems={LONG: long_named},
        shares={k: replace(v, file_system=LONG) for k, v in desired.shares.items()})
    replica = ObservedFileSystem("fs-0123456789abcdef0", "available", "x" * 256, "REPLICATING",
                                 ObservedReplication("fs-1", PRIMARY, "fs-0123456789abcdef0",
                                                     REPLICA, "ENABLED"))
    observed = empty(REPLICA)
    observed = replace(observed, references=replace(
        observed.references, file_systems={LONG: replica}, remote_file_systems={}))
    plan = make_plan(desired, observed)
    (create,) = [a for a in plan.actions if a.name == "CreateWorkingCopy"]
    token = create.params["CreationToken"]
    assert len(token) <= CREATION_TOKEN_LIMIT
    assert token == fitted(f"studio-operator-{LONG}-working-copy-fs-0123456789abcdef0", 64)
    name = next(t["Value"] for t in create.params["Tags"] if t["Key"] == "Name")
    assert len(name) <= 256 and name == fitted("x" * 256 + "-working-copy", 256)
    # The same inputs give the same token: a retried create finds the same file system.
    again = make_plan(desired, observed)
    assert [a.params for a in again.actions if a.name == "CreateWorkingCopy"] == [
        create.params]
