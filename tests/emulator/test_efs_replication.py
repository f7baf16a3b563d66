"""EFS cross-region replication: a real replica in the other region, kept in step."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import error_of, wait_for


@pytest.fixture
def source(aws, client) -> str:
    return str(client("efs").create_file_system(CreationToken="studio-efs")["FileSystemId"])


def replicate(client, source: str, **destination: str) -> dict:
    return client("efs").create_replication_configuration(
        SourceFileSystemId=source, Destinations=[destination or {"Region": "us-west-2"}]
    )


def test_creating_a_replication_makes_the_destination_in_the_other_region_with_a_folder(
    aws, client, source
):
    answer = replicate(client, source)
    (destination,) = answer["Destinations"]
    assert (answer["SourceFileSystemId"], answer["SourceFileSystemRegion"]) == (source, "us-east-1")
    assert answer["OriginalSourceFileSystemArn"].endswith(f":file-system/{source}")
    assert (destination["Region"], destination["Status"]) == ("us-west-2", "ENABLING")
    replica = destination["FileSystemId"]
    (described,) = client("efs", "us-west-2").describe_file_systems(FileSystemId=replica)[
        "FileSystems"
    ]
    assert described["FileSystemProtection"] == {"ReplicationOverwriteProtection": "REPLICATING"}
    assert (aws.efs_root / replica).is_dir()
    assert client("efs").describe_file_systems()["FileSystems"][0]["FileSystemId"] == source


def test_the_configuration_is_described_from_both_regions_and_becomes_enabled(aws, client, source):
    replica = replicate(client, source)["Destinations"][0]["FileSystemId"]
    aws.sync_replication()
    from_source = client("efs").describe_replication_configurations(FileSystemId=source)[
        "Replications"
    ]
    from_replica = client("efs", "us-west-2").describe_replication_configurations(
        FileSystemId=replica
    )["Replications"]
    assert from_source == from_replica
    (destination,) = from_source[0]["Destinations"]
    assert destination["Status"] == "ENABLED"
    assert "LastReplicatedTimestamp" in destination
    assert (
        len(client("efs", "us-west-2").describe_replication_configurations()["Replications"]) == 1
    )
    assert client("efs", "eu-west-1").describe_replication_configurations()["Replications"] == []


def test_the_background_replicator_mirrors_the_folder_and_bumps_the_timestamp(aws, client, source):
    aws.set_replication_interval(0.05)
    replica = replicate(client, source)["Destinations"][0]["FileSystemId"]
    (aws.efs_root / source / "home" / "alice").mkdir(parents=True)
    (aws.efs_root / source / "home" / "alice" / "notes.txt").write_text("hello")
    mirrored = aws.efs_root / replica / "home" / "alice" / "notes.txt"
    wait_for(lambda: mirrored.is_file() and mirrored.read_text(), "hello")

    def replicated_at() -> object:
        (config,) = client("efs").describe_replication_configurations(FileSystemId=source)[
            "Replications"
        ]
        return config["Destinations"][0].get("LastReplicatedTimestamp")

    first = replicated_at()
    wait_for(lambda: replicated_at() != first, True)


def test_deleting_the_configuration_stops_replication_and_frees_the_replica(aws, client, source):
    efs, west = client("efs"), client("efs", "us-west-2")
    replica = replicate(client, source)["Destinations"][0]["FileSystemId"]
    aws.sync_replication()
    aws.set_transition_seconds(0.3)
    efs.delete_replication_configuration(SourceFileSystemId=source)
    (config,) = efs.describe_replication_configurations(FileSystemId=source)["Replications"]
    assert config["Destinations"][0]["Status"] == "DELETING"
    (aws.efs_root / source / "late.txt").write_text("after delete")
    aws.sync_replication()
    assert not (aws.efs_root / replica / "late.txt").exists()

    def gone() -> bool:
        try:
            efs.describe_replication_configurations(FileSystemId=source)
        except efs.exceptions.ReplicationNotFound:
            return True
        return False

    wait_for(gone, True)
    (described,) = west.describe_file_systems(FileSystemId=replica)["FileSystems"]
    assert described["FileSystemProtection"] == {"ReplicationOverwriteProtection": "ENABLED"}
    (aws.efs_root / replica / "mine.txt").write_text("writable now")
    aws.sync_replication()
    assert (aws.efs_root / replica / "mine.txt").exists()


def test_an_existing_destination_needs_its_overwrite_protection_disabled(aws, client, source):
    west = client("efs", "us-west-2")
    existing = west.create_file_system(CreationToken="old-primary")["FileSystemId"]
    code, status = error_of(
        lambda: replicate(client, source, Region="us-west-2", FileSystemId=existing)
    )
    # An invalid destination is a BadRequest (CreateReplicationConfiguration's model has no
    # code of its own for it; ReplicationAlreadyExists is UpdateFileSystemProtection's).
    assert (code, status) == ("BadRequest", 400)
    west.update_file_system_protection(
        FileSystemId=existing, ReplicationOverwriteProtection="DISABLED"
    )
    answer = replicate(client, source, Region="us-west-2", FileSystemId=existing)
    assert answer["Destinations"][0]["FileSystemId"] == existing
    (described,) = west.describe_file_systems(FileSystemId=existing)["FileSystems"]
    assert described["FileSystemProtection"] == {"ReplicationOverwriteProtection": "REPLICATING"}
    enable = lambda: west.update_file_system_protection(  # noqa: E731
        FileSystemId=existing, ReplicationOverwriteProtection="ENABLED"
    )
    assert error_of(enable) == ("ReplicationAlreadyExists", 409)


def test_a_file_system_takes_part_in_one_replication_only_and_cannot_be_deleted_meanwhile(
    aws, client, source
):
    replica = replicate(client, source)["Destinations"][0]["FileSystemId"]
    # A second configuration on a source, or a destination used as a source: the
    # parameter is invalid (BadRequest), not "already exists" (model, API reference).
    assert error_of(lambda: replicate(client, source, Region="eu-west-1")) == ("BadRequest", 400)
    again = lambda: client("efs", "us-west-2").create_replication_configuration(  # noqa: E731
        SourceFileSystemId=replica, Destinations=[{"Region": "eu-west-1"}]
    )
    assert error_of(again) == ("BadRequest", 400)
    assert error_of(lambda: client("efs").delete_file_system(FileSystemId=source)) == (
        "FileSystemInUse",
        409,
    )


def test_unknown_file_systems_and_missing_configurations_answer_aws_errors(aws, client, source):
    efs = client("efs")
    assert error_of(lambda: efs.describe_replication_configurations(FileSystemId=source)) == (
        "ReplicationNotFound",
        404,
    )
    assert error_of(lambda: efs.delete_replication_configuration(SourceFileSystemId=source)) == (
        "ReplicationNotFound",
        404,
    )
    unknown = lambda: replicate(client, "fs-0123456789abcdef0")  # noqa: E731
    assert error_of(unknown) == ("FileSystemNotFound", 404)


def test_what_only_the_replica_held_is_moved_to_lost_and_found_when_deletion_completes(
    aws, client, source
):
    efs = client("efs")
    (aws.efs_root / source / "shared").mkdir()
    (aws.efs_root / source / "shared" / "kept.txt").write_text("in both")
    replica = replicate(client, source)["Destinations"][0]["FileSystemId"]
    aws.sync_replication()
    with aws.replication_paused():
        # Written to the replica behind replication's back, before a pass could undo it.
        (aws.efs_root / replica / "shared" / "stray.txt").write_text("only on the replica")
        (aws.efs_root / replica / "stray-dir").mkdir()
        efs.delete_replication_configuration(SourceFileSystemId=source)
    with pytest.raises(efs.exceptions.ReplicationNotFound):
        efs.describe_replication_configurations(FileSystemId=source)
    (found,) = [p for p in (aws.efs_root / replica).iterdir() if p.name.startswith("efs-rep")]
    assert found.name.startswith(f"efs-replication-lost+found-{source}-")
    assert (found / "shared" / "stray.txt").read_text() == "only on the replica"
    assert (found / "stray-dir").is_dir()
    assert (aws.efs_root / replica / "shared" / "kept.txt").read_text() == "in both"
    assert not (aws.efs_root / replica / "shared" / "stray.txt").exists()


def test_file_system_policies_are_put_described_and_deleted(aws, client, source):
    efs = client("efs")
    with pytest.raises(efs.exceptions.PolicyNotFound):
        efs.describe_file_system_policy(FileSystemId=source)
    policy = '{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Deny"}]}'
    efs.put_file_system_policy(FileSystemId=source, Policy=policy)
    assert efs.describe_file_system_policy(FileSystemId=source)["Policy"] == policy
    assert error_of(lambda: efs.put_file_system_policy(FileSystemId=source, Policy="{not json"))[
        0
    ] == "InvalidPolicyException"
    efs.delete_file_system_policy(FileSystemId=source)
    with pytest.raises(efs.exceptions.PolicyNotFound):
        efs.describe_file_system_policy(FileSystemId=source)
    assert error_of(lambda: efs.delete_file_system_policy(FileSystemId="fs-0000000000"))[0] == (
        "FileSystemNotFound"
    )
