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


def _run(rec: Reconciler, desired: DesiredState, clock: ManualClock) -> list[str]:
    """One pass, its restore jobs finished; the names of the actions that went well."""
    result = rec.reconcile(desired)
    assert rec.snapshots is not None
    rec.snapshots.wait(timeout=120)
    rec.queue.pop_ready()
    clock.advance(60)
    return [o.action for o in result.outcomes if o.outcome == "ok"]


def test_a_recreated_profile_gets_its_old_files_back_owned_by_its_new_uid_once(
        aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    old = _recreate_bob_behind_the_operators_back(aws)
    os.chown(old / "notebook.ipynb", int(old.name), 1001)
    (old / "data").mkdir()
    (old / "data" / "rows.csv").write_text("a,b\n1,2\n")
    os.chown(old / "data" / "rows.csv", int(old.name), 1001)
    new = _home(aws, "research", "bob")
    done = [name for _ in range(4) for name in _run(rec, desired, clock)]
    assert done.count("RestoreRecreatedHome") == 1, done
    assert (new / "notebook.ipynb").read_text() == "{\"cells\": []}"
    assert (new / "data" / "rows.csv").read_text() == "a,b\n1,2\n"
    assert os.stat(new / "notebook.ipynb").st_uid == int(new.name)
    assert os.stat(new / "data" / "rows.csv").st_uid == int(new.name)
    assert (old / "notebook.ipynb").exists(), "the old home is read, never changed"
    record = rec.users.records["research/bob"]
    assert record.home_uid == new.name and record.recreated_from.startswith(
        f"{record.domain_id}/")
    # Once: the user deletes a restored file; it does not come back.
    (new / "notebook.ipynb").unlink()
    assert "RestoreRecreatedHome" not in [n for _ in range(2) for n in _run(rec, desired, clock)]
    assert not (new / "notebook.ipynb").exists()
    assert rec.history is not None
    (entry,) = [e for e in rec.history.log.entries(profile="research/bob")
                if e.what == "recreation"]
    assert (entry.result, entry.files, entry.who) == ("restored", 2, desired.revision)
    assert entry.source == f"{old.parent.name}:/{old.name}"


def test_a_domain_recreated_with_its_efs_retained_gets_every_home_back(aws, tmp_path):
    desired, rec, clock = _converged(aws, tmp_path)
    sagemaker = _sagemaker(aws)
    before = _domain(aws, "research")
    homes = {name: _home(aws, "research", name) for name in ("alice", "bob", "carol")}
    for name, home in homes.items():
        (home / "mine.txt").write_text(f"{name}'s work\n")
    for name in homes:
        sagemaker.delete_user_profile(DomainId=before["DomainId"], UserProfileName=name)
    sagemaker.delete_domain(DomainId=before["DomainId"],
                            RetentionPolicy={"HomeEfsFileSystem": "Retain"})
    # The operator makes the domain and its profiles again (new ids, new EFS), then
    # restores each home from the retained one.
    for _ in range(12):
        _run(rec, desired, clock)
        if all(rec.users.records[f"research/{n}"].domain_id != before["DomainId"]
               for n in homes):
            break
    after = _domain(aws, "research")
    assert after["DomainId"] != before["DomainId"]
    assert after["HomeEfsFileSystemId"] != before["HomeEfsFileSystemId"]
    for name in homes:
        new = _home(aws, "research", name)
        assert new.parent.name == after["HomeEfsFileSystemId"]
        assert (new / "mine.txt").read_text() == f"{name}'s work\n"
        assert rec.users.records[f"research/{name}"].home_efs_id == after[
            "HomeEfsFileSystemId"]
