"""What AWS allows on a notebook instance whose lifecycle script failed, and who can reach
an instance before it is InService (controller/emulator/README.md has the sources):
a Failed instance is neither stopped (AWS's own error) nor updated (the stricter reading:
updates need Stopped), but can be started again or deleted; a Jupyter URL
(CreatePresignedNotebookInstanceUrl) is given only for an InService instance, never while
it is Pending (its scripts still running) or Failed."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from controller.emulator import Emulator
from tests.emulator.conftest import MakeClient
from tests.emulator.test_notebook_instances import (
    create,
    error_of,
    role_arn,
    script_config,
    wait_status,
)


@pytest.fixture
def sagemaker(client: MakeClient) -> BaseClient:
    client("iam").create_role(RoleName=role_arn().rsplit("/", 1)[-1],
                              AssumeRolePolicyDocument="{}")
    return client("sagemaker")


def _url(sagemaker: BaseClient, name: str) -> str:
    answer = sagemaker.create_presigned_notebook_instance_url(NotebookInstanceName=name)
    return str(answer["AuthorizedUrl"])


def test_a_failed_instance_is_neither_stopped_nor_updated_but_started_or_deleted(
        aws: Emulator, sagemaker: BaseClient) -> None:
    script_config(sagemaker, "broken", on_start="exit 3\n")
    script_config(sagemaker, "fine", on_start="true\n")
    arn = create(sagemaker, "nb", LifecycleConfigName="broken")
    wait_status(sagemaker, "nb", "Failed")

    code, message = error_of(lambda: sagemaker.stop_notebook_instance(NotebookInstanceName="nb"))
    assert (code, message) == ("ValidationException", (
        f"Status (Failed) not in ([InService]). Unable to transition to (Stopping) for "
        f"Notebook Instance ({arn})."))
    code, message = error_of(lambda: sagemaker.update_notebook_instance(
        NotebookInstanceName="nb", LifecycleConfigName="fine"))
    assert code == "ValidationException" and message.startswith(
        "Status (Failed) not in ([Stopped]). Unable to transition to (Updating)")
    assert sagemaker.describe_notebook_instance(
        NotebookInstanceName="nb")["NotebookInstanceLifecycleConfigName"] == "broken"

    sagemaker.start_notebook_instance(NotebookInstanceName="nb")  # runs "broken" again
    wait_status(sagemaker, "nb", "Failed")
    sagemaker.delete_notebook_instance(NotebookInstanceName="nb")


def test_a_jupyter_url_is_given_only_for_an_instance_in_service(
        aws: Emulator, sagemaker: BaseClient) -> None:
    aws.set_notebook_script_timeout(5.0)
    script_config(sagemaker, "slow", on_start="sleep 1\n")
    script_config(sagemaker, "broken", on_start="exit 3\n")
    create(sagemaker, "nb", LifecycleConfigName="slow")
    create(sagemaker, "bad", LifecycleConfigName="broken")

    assert sagemaker.describe_notebook_instance(
        NotebookInstanceName="nb")["NotebookInstanceStatus"] == "Pending"
    code, message = error_of(lambda: _url(sagemaker, "nb"))
    assert code == "ValidationException" and "Pending" in message
    wait_status(sagemaker, "bad", "Failed")
    assert error_of(lambda: _url(sagemaker, "bad"))[0] == "ValidationException"
    assert error_of(lambda: _url(sagemaker, "none"))[0] == "ValidationException"

    wait_status(sagemaker, "nb", "InService")
    url = _url(sagemaker, "nb")
    assert url.startswith("https://nb.notebook.us-east-1.sagemaker.aws?authToken=")
