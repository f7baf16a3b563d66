"""Recreation without data loss: the user table knows where each profile's files live, and a
profile or domain deleted and made again under its old name gets its old home back,
once, owned by its new uid; restoreOnRecreate: false is honoured after the recreation."""

from __future__ import annotations

import os
from pathlib import Path

import boto3

from controller.clock import ManualClock
from controller.desired import load_desired_state
from controller.loop.reconciler import Reconciler
from controller.model import DesiredState
from tests.converge.helpers import REGION, converge, prepared, reconciler
from tests.desired_state.helpers import edit
from tests.example_estate import copy_example


def _sagemaker(aws):
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=aws.endpoint_url)


def _domain(aws, name: str) -> dict:
    sagemaker = _sagemaker(aws)
    domain_id = next(d["DomainId"] for d in sagemaker.list_domains()["Domains"]
                     if d["DomainName"] == name and d["Status"] != "Deleting")
    return sagemaker.describe_domain(DomainId=domain_id)


def _home(aws, domain: str, profile: str) -> Path:
    described = _domain(aws, domain)
    uid = _sagemaker(aws).describe_user_profile(
        DomainId=described["DomainId"], UserProfileName=profile)["HomeEfsFileSystemUid"]
    return aws.efs_root / described["HomeEfsFileSystemId"] / str(uid)


def _converged(aws, tmp_path: Path, opt_out: bool = False
               ) -> tuple[DesiredState, Reconciler, ManualClock]:
    folder = copy_example(tmp_path / "desired")
    if opt_out:
        edit(folder / "research.yaml", "    uid: 200102\n    gid: 1001\n",
             "    uid: 200102\n    gid: 1001\n  restoreOnRecreate: false\n")
    desired = prepared(aws, load_desired_state(folder))
    clock = ManualClock()
    rec = reconciler(aws, clock)
    converge(rec, desired, clock)
    return desired, rec, clock


def _recreate_bob_behind_the_operators_back(aws) -> Path:
    """bob's files in his home on the domain EFS, then his profile deleted and made
    again by hand (it gets the next home uid); returns his old home."""
    old = _home(aws, "research", "bob")
    (old / "notebook.ipynb").write_text("{\"cells\": []}")
    domain_id = _domain(aws, "research")["DomainId"]
    sagemaker = _sagemaker(aws)
    sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="bob")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="bob")
    return old


def test_the_user_table_records_where_each_profiles_files_live(aws, tmp_path):
    desired, rec, _ = _converged(aws, tmp_path)
    record = rec.users.records["research/alice"]
    domain = _domain(aws, "research")
    assert (record.domain_id, record.home_efs_id) == (domain["DomainId"],
                                                      domain["HomeEfsFileSystemId"])
    assert _home(aws, "research", "alice").name == record.home_uid
    assert (record.uid, record.gid) == (200101, 1001)
    assert [(fs, path) for fs, _, path in record.custom_paths] == [
        ("studio-efs", "/home/research/alice")]
    # Kept in the status store: a restarted controller reads the same table.
    assert reconciler(aws).users.records["research/alice"] == record


def test_a_profile_recreated_behind_the_operators_back_gets_a_restore_of_its_old_home(
        aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    old = _recreate_bob_behind_the_operators_back(aws)
    new = _home(aws, "research", "bob")
    assert new != old and old.is_dir()
    result = rec.reconcile(desired)
    (restore,) = [a for a in result.plan.actions if a.name == "RestoreRecreatedHome"]
    assert restore.key.name == "research/bob"
    assert restore.params["Source"] == {"FileSystemId": old.parent.name, "Path": f"/{old.name}"}
    assert restore.params["Target"] == {"FileSystemId": new.parent.name, "Path": f"/{new.name}"}
    assert restore.params["UidMap"] == {old.name: new.name}


def test_the_opt_out_is_honoured_after_the_recreation(aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path, opt_out=True)
    _recreate_bob_behind_the_operators_back(aws)
    result = rec.reconcile(desired)
    assert not [a for a in result.plan.actions if a.name == "RestoreRecreatedHome"]
    assert any("research/bob: recreated" in n and "restoreOnRecreate is false" in n
               for n in result.plan.notes)
    assert rec.users.records["research/bob"].recreated_from == "declined"
    assert not (_home(aws, "research", "bob") / "notebook.ipynb").exists()
    assert not [a for a in rec.reconcile(desired).plan.actions
                if a.name == "RestoreRecreatedHome"]


def test_a_recreated_profile_whose_old_home_is_gone_is_recorded_with_nothing_to_restore(
        aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    old = _recreate_bob_behind_the_operators_back(aws)
    for entry in old.iterdir():
        entry.unlink()
    old.rmdir()
    result = rec.reconcile(desired)
    assert not [a for a in result.plan.actions if a.name == "RestoreRecreatedHome"]
    assert rec.users.records["research/bob"].recreated_from == "gone"
    assert os.path.isdir(_home(aws, "research", "bob"))
