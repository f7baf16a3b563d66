"""User profiles behave as AWS's do; LastModifiedTime moves on every change."""

from __future__ import annotations

import os

import pytest

from tests.emulator.helpers import ROLE, create_domain, error_of, make_network, wait_for

POSIX = {"CustomPosixUserConfig": {"Uid": 200101, "Gid": 1001}}


@pytest.fixture
def domain_id(aws, client, network) -> str:
    return create_domain(client("sagemaker"), network)


def test_create_describe_and_list_a_profile(aws, client, domain_id):
    sagemaker = client("sagemaker")
    arn = sagemaker.create_user_profile(
        DomainId=domain_id, UserProfileName="alice", UserSettings=POSIX
    )["UserProfileArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:user-profile/{domain_id}/alice"
    described = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert (described["Status"], described["UserSettings"]) == ("InService", POSIX)
    assert described["HomeEfsFileSystemUid"] == "200001"
    home = sagemaker.describe_domain(DomainId=domain_id)["HomeEfsFileSystemId"]
    assert (aws.efs_root / home / "200001").is_dir()
    (summary,) = sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]
    assert set(summary) == {
        "DomainId",
        "UserProfileName",
        "Status",
        "CreationTime",
        "LastModifiedTime",
    }
    assert (summary["DomainId"], summary["UserProfileName"]) == (domain_id, "alice")


def test_duplicates_unknown_domains_and_unknown_profiles_answer_aws_errors(aws, client, domain_id):
    sagemaker = client("sagemaker")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(
        lambda: sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    ) == (
        "ResourceInUse",
        400,
    )
    assert error_of(
        lambda: sagemaker.create_user_profile(DomainId="d-000000000000", UserProfileName="bob")
    )[0] == ("ResourceNotFound")
    assert error_of(
        lambda: sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="bob")
    )[0] == ("ResourceNotFound")


def test_profiles_wait_for_their_domain_to_be_in_service(aws, client, network):
    aws.set_transition_seconds(1.0)
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    assert error_of(lambda: sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="a"))[
        0
    ] == ("ResourceInUse")


def test_list_pages_up_to_100_and_filters_by_domain(aws, client, network, domain_id):
    sagemaker = client("sagemaker")
    other = create_domain(sagemaker, network, "other")
    for i in range(23):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=f"user-{i:02d}")
    sagemaker.create_user_profile(DomainId=other, UserProfileName="elsewhere")
    names, token, pages = [], None, 0
    while True:
        page = sagemaker.list_user_profiles(
            DomainIdEquals=domain_id, MaxResults=10, **({"NextToken": token} if token else {})
        )
        names += [p["UserProfileName"] for p in page["UserProfiles"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert (pages, names) == (3, [f"user-{i:02d}" for i in range(23)])
    assert len(sagemaker.list_user_profiles(MaxResults=100)["UserProfiles"]) == 24
    assert error_of(lambda: sagemaker.list_user_profiles(MaxResults=101)) == (
        "ValidationException",
        400,
    )


def test_last_modified_time_moves_on_every_update_even_in_quick_succession(aws, client, domain_id):
    sagemaker = client("sagemaker")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")

    def listed() -> object:
        (summary,) = sagemaker.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"]
        return summary["LastModifiedTime"]

    seen = [listed()]
    for uid in (200101, 200102, 200103):
        sagemaker.update_user_profile(
            DomainId=domain_id,
            UserProfileName="alice",
            UserSettings={"CustomPosixUserConfig": {"Uid": uid, "Gid": 1001}},
        )
        seen.append(listed())
    assert seen == sorted(seen) and len(set(seen)) == 4


def test_updating_then_in_service_and_the_settle_moves_last_modified_time(aws, client, domain_id):
    sagemaker = client("sagemaker")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    aws.set_transition_seconds(0.3)
    sagemaker.update_user_profile(DomainId=domain_id, UserProfileName="alice", UserSettings=POSIX)
    during = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert during["Status"] == "Updating"
    assert error_of(
        lambda: sagemaker.update_user_profile(DomainId=domain_id, UserProfileName="alice")
    ) == (
        "ResourceInUse",
        400,
    )
    read = lambda: sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="alice")  # noqa: E731
    wait_for(lambda: read()["Status"], "InService")
    assert read()["LastModifiedTime"] > during["LastModifiedTime"]


def test_update_merges_top_level_user_settings(aws, client, domain_id, tmp_path):
    sagemaker = client("sagemaker")
    sagemaker.create_user_profile(
        DomainId=domain_id,
        UserProfileName="alice",
        UserSettings={
            "ExecutionRole": ROLE,
            **POSIX,
        },
    )
    sagemaker.update_user_profile(
        DomainId=domain_id,
        UserProfileName="alice",
        UserSettings={
            "CustomPosixUserConfig": {"Uid": 300000, "Gid": 1002},
        },
    )
    settings = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="alice")[
        "UserSettings"
    ]
    assert settings == {
        "ExecutionRole": ROLE,
        "CustomPosixUserConfig": {"Uid": 300000, "Gid": 1002},
    }
    bad = {"CustomPosixUserConfig": {"Uid": 5000000, "Gid": 1001}}

    def update() -> object:
        return sagemaker.update_user_profile(
            DomainId=domain_id, UserProfileName="alice", UserSettings=bad
        )

    assert error_of(update) == ("ValidationException", 400)


def test_tags_on_profiles_and_delete(aws, client, domain_id):
    aws.set_transition_seconds(0.3)
    sagemaker = client("sagemaker")
    wait_for(lambda: sagemaker.describe_domain(DomainId=domain_id)["Status"], "InService")
    arn = sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")[
        "UserProfileArn"
    ]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "alice"}])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "alice"}]

    def read() -> str:
        return sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="alice")[
            "Status"
        ]

    wait_for(read, "InService")
    sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="alice")

    def status() -> str:
        try:
            return read()
        except sagemaker.exceptions.ResourceNotFound:
            return "gone"

    assert wait_for(status, "gone") == ["Deleting", "gone"]


def test_each_account_sees_only_its_own_studio_resources(aws, client, network, domain_id):
    sts = client("sts")
    other_account_role = "arn:aws:iam::111111111111:role/platform-admin"
    creds = sts.assume_role(RoleArn=other_account_role, RoleSessionName="test")["Credentials"]
    session = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    other = client("sagemaker", **session)
    assert client("sts", **session).get_caller_identity()["Account"] == "111111111111"
    assert other.list_domains()["Domains"] == []
    assert other.list_user_profiles()["UserProfiles"] == []
    assert error_of(lambda: other.describe_domain(DomainId=domain_id))[0] == "ResourceNotFound"
    other_network = make_network(client("ec2", **session), ("us-east-1a",))
    assert create_domain(other, other_network) != domain_id
    assert len(client("sagemaker").list_domains()["Domains"]) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a home directory to its uid")
def test_home_directories_belong_to_their_uid_when_running_as_root(aws, client, domain_id):
    sagemaker = client("sagemaker")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    home = sagemaker.describe_domain(DomainId=domain_id)["HomeEfsFileSystemId"]
    assert (aws.efs_root / home / "200001").stat().st_uid == 200001


def test_profiles_sort_by_last_modified_time_so_changed_ones_come_first(aws, client, domain_id):
    sagemaker = client("sagemaker")
    for name in ("alice", "bob", "carol"):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=name)
    sagemaker.update_user_profile(DomainId=domain_id, UserProfileName="alice", UserSettings=POSIX)
    listed = sagemaker.list_user_profiles(
        DomainIdEquals=domain_id, SortBy="LastModifiedTime", SortOrder="Descending"
    )["UserProfiles"]
    assert [p["UserProfileName"] for p in listed] == ["alice", "carol", "bob"]
