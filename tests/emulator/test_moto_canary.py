"""Canary: fails loudly, saying what moved, when a moto (or werkzeug) upgrade moves the
internals controller/emulator relies on. Fix the emulator, then update the pin."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED_MOTO = "5.2.5"


def test_moto_is_the_exact_version_the_emulator_was_built_against():
    installed = importlib.metadata.version("moto")
    assert installed == PINNED_MOTO, (
        f"moto {installed} is installed but controller/emulator was built and checked against "
        f"moto {PINNED_MOTO}. Run tests/emulator, fix what moved, then update PINNED_MOTO here "
        "and the pins in pyproject.toml."
    )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [
        d
        for group in pyproject["project"]["optional-dependencies"].values()
        for d in group
        if d.startswith("moto")
    ]
    assert pins and all(f"=={PINNED_MOTO}" in pin for pin in pins), (
        f"pyproject.toml must pin moto exactly to {PINNED_MOTO} (found {pins}): "
        "the emulator relies on its internals"
    )


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
        ("moto.moto_server.werkzeug_app", "create_backend_app"),
        ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    ],
)
def test_the_moto_server_pieces_the_emulator_wraps_are_where_it_imports_them(module, name):
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        pytest.fail(
            f"moto moved {module}.{name}, which controller/emulator/server.py imports: {error}"
        )
    if name == "DomainDispatcherApplication":
        parameters = list(inspect.signature(found).parameters)
        assert parameters == ["create_app"], (
            f"DomainDispatcherApplication now takes {parameters}; "
            "server.py passes create_backend_app alone"
        )


def test_moto_still_reads_the_setting_that_skips_loading_amis():
    settings = importlib.import_module("moto.settings")
    assert hasattr(settings, "ec2_load_default_amis"), (
        "moto.settings.ec2_load_default_amis is gone: MOTO_EC2_LOAD_DEFAULT_AMIS (set by "
        "start_emulator to keep resets fast) may no longer work; check reset times"
    )
    assert "MOTO_EC2_LOAD_DEFAULT_AMIS" in inspect.getsource(settings.ec2_load_default_amis)


def test_werkzeug_still_hands_the_socket_to_the_app_for_dropped_connection_faults():
    serving = importlib.import_module("werkzeug.serving")
    assert '"werkzeug.socket"' in inspect.getsource(serving.WSGIRequestHandler.make_environ), (
        "werkzeug no longer puts the connection in environ['werkzeug.socket']: the 'timeout' "
        "fault in controller/emulator/router.py cannot drop connections any more"
    )


def test_moto_behaves_as_the_extensions_expect(aws, client):
    efs = client("efs")
    fs_id = efs.create_file_system(CreationToken="canary")["FileSystemId"]
    assert re.fullmatch(r"fs-[0-9a-f]{8,40}", fs_id), (
        f"moto's file system ids changed form ({fs_id}); EfsFolders only accepts fs-<hex>"
    )
    with pytest.raises(efs.exceptions.FileSystemNotFound):
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0")
    sts = client("sts")
    assert sts.get_caller_identity()["Account"] == "123456789012", (
        "moto's default account moved; MotoGateway.account_of assumes 123456789012"
    )
    creds = sts.assume_role(RoleArn="arn:aws:iam::222222222222:role/r", RoleSessionName="canary")[
        "Credentials"
    ]
    other = client(
        "sts",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert other.get_caller_identity()["Account"] == "222222222222", (
        "moto no longer maps assumed-role keys to their account; per-account Studio state breaks"
    )


def test_moto_still_answers_in_the_regions_partition(client):
    """Studio ARNs follow the region's partition (sagemaker_store.partition_of); the
    GovCloud test relies on moto's IAM and EFS doing the same."""
    iam = client("iam", "us-gov-west-1")
    arn = iam.create_role(RoleName="canary", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    assert arn.startswith("arn:aws-us-gov:iam::"), (
        f"moto's IAM gives {arn} in us-gov-west-1: GovCloud ARNs no longer come from moto"
    )
    efs = client("efs", "us-gov-west-1")
    fs_arn = efs.create_file_system(CreationToken="canary")["FileSystemArn"]
    assert fs_arn.startswith("arn:aws-us-gov:elasticfilesystem:"), fs_arn


def test_botocore_still_has_what_the_model_check_reads():
    """validation.py and wire_input.py read botocore's models and its CBOR decoder; an
    upgrade that moves them would silently switch the check off, so say so here."""
    import botocore.session
    from botocore.parsers import RpcV2CBORParser

    parser = RpcV2CBORParser()
    assert hasattr(parser, "parse_data_item") and hasattr(
        parser, "get_peekable_stream_from_bytes"), (
        "botocore's RpcV2CBORParser lost parse_data_item/get_peekable_stream_from_bytes: "
        "wire_input.py cannot read CBOR requests (CloudWatch) any more")
    session = botocore.session.get_session()
    assert session.get_partition_for_region("us-gov-west-1") == "aws-us-gov"
    efs = session.get_service_model("efs")
    token = efs.operation_model("CreateFileSystem").input_shape.members["CreationToken"]
    assert (token.metadata.get("min"), token.metadata.get("max"), token.metadata.get(
        "pattern")) == (1, 64, ".+"), (
        f"botocore's shape metadata changed form ({token.metadata}): validation.py reads "
        "min/max/pattern/enum/required from it")
    domain = session.get_service_model("sagemaker").operation_model("CreateDomain")
    assert "AuthMode" in domain.input_shape.metadata.get("required", ()), (
        "required members are no longer in structure metadata['required']")
    assert "enum" in domain.input_shape.members["AuthMode"].metadata


def test_moto_s3_store_still_has_what_the_part_fast_path_writes_into():
    """controller/emulator/s3_parts.py hands parts to moto's upload and fills the completed
    object's value buffer itself: the names it relies on must still be there."""
    models = importlib.import_module("moto.s3.models")
    assert hasattr(models, "s3_backends"), "moto.s3.models.s3_backends moved"
    assert "part_id" in inspect.signature(models.FakeMultipart.set_part).parameters
    put = inspect.signature(models.S3Backend.put_object).parameters
    for name in ("storage", "etag", "multipart", "disable_notification"):
        assert name in put, f"S3Backend.put_object lost its {name} argument"
    key_source = inspect.getsource(models.FakeKey)
    for name in ("_value_buffer", "contentsize", "_etag", "checksum_value", "checksum_parts",
                 "self.lock", "SpooledTemporaryFile(self._max_buffer_size)",
                 "get_s3_default_key_buffer_size()"):
        assert name in key_source, f"FakeKey no longer has {name}: s3_parts.py writes it"
    complete = inspect.getsource(models.S3Backend.complete_multipart_upload)
    for name in ("set_metadata", "put_object_tagging", "put_object_acl", "checksum_type"):
        assert name in complete, (f"moto's Complete no longer calls {name}: check that "
                                  "s3_parts.py still leaves the object as moto's would")
