"""Deleting an EFS replication configuration as EFS does it, and creating one where EFS
refuses: by the source's id only, from either region, both sides or only the local one
(the other side then stays, orphaned), and the error codes botocore's model documents.

Sources: the EFS model (DeleteReplicationConfiguration's SourceFileSystemId is "the ID of
the source file system"; DeletionMode's documentation; ConflictException, "the source
file system in a replication is encrypted but the destination file system is
unencrypted"; ReplicationAlreadyExists is UpdateFileSystemProtection's), and the EFS
guide (a new replica has no LastReplicatedTimestamp before its first sync).
"""

from __future__ import annotations

import pytest

from tests.emulator.helpers import error_of

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture
def source(aws, client) -> str:
    return str(client("efs").create_file_system(CreationToken="studio-efs")["FileSystemId"])


@pytest.fixture
def replica(aws, client, source) -> str:
    answer = client("efs").create_replication_configuration(
        SourceFileSystemId=source, Destinations=[{"Region": WEST}])
    aws.sync_replication()
    return str(answer["Destinations"][0]["FileSystemId"])


def configured(client, region: str, file_system_id: str) -> dict | None:
    efs = client("efs", region)
    try:
        (found,) = efs.describe_replication_configurations(FileSystemId=file_system_id)[
            "Replications"]
    except efs.exceptions.ReplicationNotFound:
        return None
    return dict(found)


def protection(client, region: str, file_system_id: str) -> str:
    (described,) = client("efs", region).describe_file_systems(FileSystemId=file_system_id)[
        "FileSystems"]
    return str(described["FileSystemProtection"]["ReplicationOverwriteProtection"])


def test_a_configuration_is_named_by_its_source_id_only(aws, client, source, replica):
    west = client("efs", WEST)
    by_destination = lambda: west.delete_replication_configuration(  # noqa: E731
        SourceFileSystemId=replica)
    assert error_of(by_destination) == ("ReplicationNotFound", 404)
    assert configured(client, WEST, replica) is not None, "nothing was deleted"
    # The source's id, from the destination's region, deletes it (both sides).
    west.delete_replication_configuration(SourceFileSystemId=source)
    assert configured(client, WEST, replica) is None
    assert configured(client, EAST, source) is None
    assert protection(client, WEST, replica) == "ENABLED"


def test_local_configuration_only_deletes_this_side_and_orphans_the_other(
    aws, client, source, replica
):
    west = client("efs", WEST)
    west.delete_replication_configuration(SourceFileSystemId=source,
                                          DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert configured(client, WEST, replica) is None
    assert client("efs", WEST).describe_replication_configurations()["Replications"] == []
    assert protection(client, WEST, replica) == "ENABLED"
    (aws.efs_root / replica / "mine.txt").write_text("written in the promoted copy")
    (aws.efs_root / source / "late.txt").write_text("written at the old source")
    aws.sync_replication()
    assert (aws.efs_root / replica / "mine.txt").exists(), "mirroring stopped"
    assert not (aws.efs_root / replica / "late.txt").exists()
    # The old region still finds itself a source, of a configuration that cannot recover.
    orphan = configured(client, EAST, source)
    assert orphan is not None
    (destination,) = orphan["Destinations"]
    assert (destination["FileSystemId"], destination["Status"]) == (replica, "ERROR")
    assert "StatusMessage" in destination
    again = lambda: client("efs").create_replication_configuration(  # noqa: E731
        SourceFileSystemId=source, Destinations=[{"Region": WEST}])
    assert error_of(again) == ("BadRequest", 400), "still part of a configuration"
    client("efs").delete_replication_configuration(SourceFileSystemId=source,
                                                   DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert configured(client, EAST, source) is None
    assert again()["Destinations"][0]["Status"] == "ENABLING"


def test_deleting_both_sides_needs_the_other_region_and_local_only_works_without_it(
    aws, client, source, replica
):
    aws.set_faults(rate=1.0, kinds=("5xx",), regions={EAST})
    west = client("efs", WEST, attempts=1)
    both = lambda: west.delete_replication_configuration(SourceFileSystemId=source)  # noqa: E731
    assert error_of(both) == ("InternalServerError", 500)
    assert configured(client, WEST, replica) is not None
    (aws.efs_root / source / "during-outage.txt").write_text("east is down")
    aws.sync_replication()
    assert not (aws.efs_root / replica / "during-outage.txt").exists(), "no mirroring"
    west.delete_replication_configuration(SourceFileSystemId=source,
                                          DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert configured(client, WEST, replica) is None
    aws.clear_faults()
    assert configured(client, EAST, source)["Destinations"][0]["Status"] == "ERROR"


def test_local_configuration_only_is_refused_within_one_region_and_modes_are_checked(
    aws, client, source
):
    efs = client("efs")
    efs.create_replication_configuration(SourceFileSystemId=source,
                                         Destinations=[{"Region": EAST}])
    local = lambda: efs.delete_replication_configuration(  # noqa: E731
        SourceFileSystemId=source, DeletionMode="LOCAL_CONFIGURATION_ONLY")
    assert error_of(local) == ("BadRequest", 400)
    bogus = lambda: efs.delete_replication_configuration(  # noqa: E731
        SourceFileSystemId=source, DeletionMode="EVERYTHING")
    assert error_of(bogus) == ("BadRequest", 400)
    assert configured(client, EAST, source) is not None


def test_an_encrypted_source_refuses_an_unencrypted_destination_with_a_conflict(aws, client):
    encrypted = client("efs").create_file_system(CreationToken="enc", Encrypted=True)[
        "FileSystemId"]
    west = client("efs", WEST)
    plain = west.create_file_system(CreationToken="plain", Encrypted=False)["FileSystemId"]
    west.update_file_system_protection(FileSystemId=plain,
                                       ReplicationOverwriteProtection="DISABLED")
    into_plain = lambda: client("efs").create_replication_configuration(  # noqa: E731
        SourceFileSystemId=encrypted, Destinations=[{"Region": WEST, "FileSystemId": plain}])
    assert error_of(into_plain) == ("ConflictException", 409)
    assert configured(client, EAST, encrypted) is None


def test_protection_of_a_destination_cannot_change_while_it_replicates(
    aws, client, source, replica
):
    change = lambda: client("efs", WEST).update_file_system_protection(  # noqa: E731
        FileSystemId=replica, ReplicationOverwriteProtection="DISABLED")
    assert error_of(change) == ("ReplicationAlreadyExists", 409)


def test_a_new_replica_has_no_last_replicated_timestamp_before_its_first_sync(
    aws, client, source
):
    with aws.replication_paused():
        answer = client("efs").create_replication_configuration(
            SourceFileSystemId=source, Destinations=[{"Region": WEST}])
        replica = answer["Destinations"][0]["FileSystemId"]
        (destination,) = configured(client, WEST, replica)["Destinations"]
        assert destination["Status"] == "ENABLING"
        assert "LastReplicatedTimestamp" not in destination
    aws.sync_replication()
    (destination,) = configured(client, WEST, replica)["Destinations"]
    assert destination["Status"] == "ENABLED" and "LastReplicatedTimestamp" in destination
