"""Spaces, apps and Studio lifecycle configs: minimal but real."""

from __future__ import annotations

import base64

import pytest

from tests.emulator.helpers import create_domain, error_of, wait_for

SCRIPT = base64.b64encode(b"#!/bin/bash\necho restore\n").decode()


@pytest.fixture
def domain_id(aws, client, network) -> str:
    sagemaker = client("sagemaker")
    domain_id = create_domain(sagemaker, network)
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    return domain_id


def test_lifecycle_configs_are_created_once_listed_and_described(aws, client):
    sagemaker = client("sagemaker")
    arn = sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="restore",
        StudioLifecycleConfigContent=SCRIPT,
        StudioLifecycleConfigAppType="JupyterLab",
    )["StudioLifecycleConfigArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/restore"
    described = sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName="restore")
    assert (
        described["StudioLifecycleConfigContent"],
        described["StudioLifecycleConfigAppType"],
    ) == (
        SCRIPT,
        "JupyterLab",
    )
    duplicate = lambda: sagemaker.create_studio_lifecycle_config(  # noqa: E731
        StudioLifecycleConfigName="restore",
        StudioLifecycleConfigContent=SCRIPT,
        StudioLifecycleConfigAppType="CodeEditor",
    )
    assert error_of(duplicate) == ("ResourceInUse", 400)
    sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="backup",
        StudioLifecycleConfigContent=SCRIPT,
        StudioLifecycleConfigAppType="CodeEditor",
    )
    listed = sagemaker.list_studio_lifecycle_configs(AppTypeEquals="CodeEditor")[
        "StudioLifecycleConfigs"
    ]
    assert [c["StudioLifecycleConfigName"] for c in listed] == ["backup"]
    not_base64 = lambda: sagemaker.create_studio_lifecycle_config(  # noqa: E731
        StudioLifecycleConfigName="bad",
        StudioLifecycleConfigContent="#!/bin/bash echo",
        StudioLifecycleConfigAppType="JupyterLab",
    )
    assert error_of(not_base64)[0] == "ValidationException"


def test_a_lifecycle_config_in_use_cannot_be_deleted_and_unknown_ones_cannot_be_attached(
    aws, client, network
):
    sagemaker = client("sagemaker")
    arn = sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="restore",
        StudioLifecycleConfigContent=SCRIPT,
        StudioLifecycleConfigAppType="JupyterLab",
    )["StudioLifecycleConfigArn"]
    domain_id = create_domain(sagemaker, network)
    sagemaker.update_domain(
        DomainId=domain_id,
        DefaultUserSettings={
            "JupyterLabAppSettings": {"LifecycleConfigArns": [arn]},
        },
    )
    assert error_of(
        lambda: sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName="restore")
    ) == (
        "ResourceInUse",
        400,
    )
    missing = arn.replace("restore", "missing")
    attach = lambda: sagemaker.create_user_profile(  # noqa: E731
        DomainId=domain_id,
        UserProfileName="bob",
        UserSettings={"JupyterLabAppSettings": {"LifecycleConfigArns": [missing]}},
    )
    assert error_of(attach)[0] == "ResourceNotFound"
    sagemaker.update_domain(DomainId=domain_id, DefaultUserSettings={"JupyterLabAppSettings": {}})
    sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName="restore")
    assert error_of(
        lambda: sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName="restore")
    )[0] == ("ResourceNotFound")


def test_spaces_belong_to_a_domain_and_block_their_owners_deletion(aws, client, domain_id):
    sagemaker = client("sagemaker")
    arn = sagemaker.create_space(
        DomainId=domain_id,
        SpaceName="alice-lab",
        SpaceSettings={"AppType": "JupyterLab"},
        OwnershipSettings={"OwnerUserProfileName": "alice"},
        SpaceSharingSettings={"SharingType": "Private"},
    )["SpaceArn"]
    assert arn.endswith(f":space/{domain_id}/alice-lab")
    described = sagemaker.describe_space(DomainId=domain_id, SpaceName="alice-lab")
    assert (described["Status"], described["OwnershipSettings"]) == (
        "InService",
        {"OwnerUserProfileName": "alice"},
    )
    (summary,) = sagemaker.list_spaces(DomainIdEquals=domain_id)["Spaces"]
    assert summary["SpaceSettingsSummary"] == {"AppType": "JupyterLab"}
    assert error_of(
        lambda: sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    ) == (
        "ResourceInUse",
        400,
    )
    orphan = lambda: sagemaker.create_space(  # noqa: E731
        DomainId=domain_id, SpaceName="x", OwnershipSettings={"OwnerUserProfileName": "nobody"}
    )
    assert error_of(orphan)[0] == "ResourceNotFound"


def test_apps_start_pending_run_in_service_and_end_deleted(aws, client, domain_id):
    sagemaker = client("sagemaker")
    sagemaker.create_space(
        DomainId=domain_id, SpaceName="lab", OwnershipSettings={"OwnerUserProfileName": "alice"}
    )
    aws.set_transition_seconds(0.3)
    app = {"DomainId": domain_id, "SpaceName": "lab", "AppType": "JupyterLab", "AppName": "default"}
    arn = sagemaker.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})["AppArn"]
    assert arn.endswith(f":app/{domain_id}/lab/jupyterlab/default")
    assert error_of(lambda: sagemaker.create_app(**app)) == ("ResourceInUse", 400)
    assert wait_for(lambda: sagemaker.describe_app(**app)["Status"], "InService") == [
        "Pending",
        "InService",
    ]
    assert (
        error_of(lambda: sagemaker.delete_space(DomainId=domain_id, SpaceName="lab"))[0]
        == "ResourceInUse"
    )
    sagemaker.delete_app(**app)
    assert wait_for(lambda: sagemaker.describe_app(**app)["Status"], "Deleted") == [
        "Deleting",
        "Deleted",
    ]
    (listed,) = sagemaker.list_apps(DomainIdEquals=domain_id, SpaceNameEquals="lab")["Apps"]
    assert listed["Status"] == "Deleted"
    assert error_of(
        lambda: sagemaker.create_app(DomainId=domain_id, AppType="JupyterLab", AppName="x")
    )[0] == ("ValidationException")
