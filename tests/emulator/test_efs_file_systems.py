"""EFS file systems: real folders, protection, backup policy, throughput, access points."""

from __future__ import annotations

from tests.emulator.helpers import error_of


def test_every_file_system_gets_a_folder_that_goes_when_it_is_deleted(aws, client):
    efs = client("efs")
    fs_id = efs.create_file_system(CreationToken="a")["FileSystemId"]
    assert (aws.efs_root / fs_id).is_dir()
    efs.delete_file_system(FileSystemId=fs_id)
    assert not (aws.efs_root / fs_id).exists()


def test_replication_overwrite_protection_is_enabled_by_default_and_can_be_disabled(aws, client):
    efs = client("efs")
    created = efs.create_file_system(CreationToken="a")
    assert created["FileSystemProtection"] == {"ReplicationOverwriteProtection": "ENABLED"}
    answer = efs.update_file_system_protection(
        FileSystemId=created["FileSystemId"], ReplicationOverwriteProtection="DISABLED"
    )
    assert answer["ReplicationOverwriteProtection"] == "DISABLED"
    (described,) = efs.describe_file_systems(FileSystemId=created["FileSystemId"])["FileSystems"]
    assert described["FileSystemProtection"] == {"ReplicationOverwriteProtection": "DISABLED"}
    unknown = lambda: efs.update_file_system_protection(  # noqa: E731
        FileSystemId="fs-0123456789abcdef0", ReplicationOverwriteProtection="DISABLED"
    )
    assert error_of(unknown) == ("FileSystemNotFound", 404)


def test_backup_policy_is_put_and_described(aws, client):
    efs = client("efs")
    fs_id = efs.create_file_system(CreationToken="a")["FileSystemId"]
    assert error_of(lambda: efs.describe_backup_policy(FileSystemId=fs_id))[0] == "PolicyNotFound"
    efs.put_backup_policy(FileSystemId=fs_id, BackupPolicy={"Status": "ENABLED"})
    assert efs.describe_backup_policy(FileSystemId=fs_id)["BackupPolicy"] == {"Status": "ENABLED"}

    def unknown() -> object:
        return efs.put_backup_policy(
            FileSystemId="fs-0123456789abcdef0", BackupPolicy={"Status": "ENABLED"}
        )

    assert error_of(unknown) == ("FileSystemNotFound", 404)


def test_update_file_system_changes_the_throughput_mode_as_described(aws, client):
    efs = client("efs")
    fs_id = efs.create_file_system(CreationToken="a", ThroughputMode="bursting")["FileSystemId"]
    answer = efs.update_file_system(
        FileSystemId=fs_id, ThroughputMode="provisioned", ProvisionedThroughputInMibps=64
    )
    assert (answer["ResponseMetadata"]["HTTPStatusCode"], answer["ThroughputMode"]) == (
        202,
        "provisioned",
    )
    (described,) = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"]
    assert (described["ThroughputMode"], described["ProvisionedThroughputInMibps"]) == (
        "provisioned",
        64,
    )
    assert (
        error_of(
            lambda: efs.update_file_system(
                FileSystemId=fs_id, ThroughputMode="provisioned", ProvisionedThroughputInMibps=5000
            )
        )[0]
        == "BadRequest"
    )


def test_access_points_are_idempotent_on_client_token(aws, client):
    efs = client("efs")
    fs_id = efs.create_file_system(CreationToken="a")["FileSystemId"]
    ask = {
        "ClientToken": "root-for-operator",
        "FileSystemId": fs_id,
        "PosixUser": {"Uid": 0, "Gid": 0},
    }
    first = efs.create_access_point(**ask)["AccessPointId"]
    again = efs.create_access_point(**ask)["AccessPointId"]
    assert first == again
    assert len(efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]) == 1
    changed = lambda: efs.create_access_point(**{**ask, "PosixUser": {"Uid": 1, "Gid": 1}})  # noqa: E731
    assert error_of(changed) == ("AccessPointAlreadyExists", 409)


def test_file_systems_of_one_region_are_not_seen_from_another(aws, client):
    fs_id = client("efs").create_file_system(CreationToken="a")["FileSystemId"]
    assert client("efs", "us-west-2").describe_file_systems()["FileSystems"] == []
    assert error_of(
        lambda: client("efs", "us-west-2").describe_file_systems(FileSystemId=fs_id)
    ) == (
        "FileSystemNotFound",
        404,
    )


def test_listings_come_in_an_unspecified_order_and_name_tags_are_not_unique(aws, client):
    """DescribeFileSystems: "The order of file systems returned ... is unspecified"; a Name
    tag is a tag like any other, so two file systems may carry the same one."""
    efs = client("efs")
    made = [efs.create_file_system(CreationToken=f"fs-{i}",
                                   Tags=[{"Key": "Name", "Value": "studio-efs"}])["FileSystemId"]
            for i in range(6)]
    orders = {tuple(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"])
              for _ in range(8)}
    assert len(orders) > 1, "the order varies between calls"
    assert all(sorted(order) == sorted(made) for order in orders)
    names = [f["Name"] for f in efs.describe_file_systems()["FileSystems"]]
    assert names == ["studio-efs"] * 6
    aws.reset()
    efs = client("efs")
    again = [efs.create_file_system(CreationToken=f"fs-{i}")["FileSystemId"] for i in range(6)]
    first = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    aws.reset()
    efs = client("efs")
    redo = [efs.create_file_system(CreationToken=f"fs-{i}")["FileSystemId"] for i in range(6)]
    second = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]]
    # Seeded per emulator and again on reset: the same calls see the same order.
    assert [again.index(i) for i in first] == [redo.index(i) for i in second]
