"""The gateway's clients read compactly parsed service models (controller.service_models):
plain dicts, interned text, documentation emptied; and every kind of call still works."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError

from controller.gateway import AwsGateway
from controller.service_models import DOC_KEYS, ShapesOnDemand


def _fresh_session() -> boto3.session.Session:
    """A session with a loader of its own (the tests share one loader per process, which
    may hold models parsed before a gateway made its first client)."""
    core = botocore.session.Session()
    core.register_component("data_loader", botocore.loaders.create_loader())
    return boto3.session.Session(botocore_session=core, region_name="us-east-1")


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _walk(value, f"{path}/{index}")
    return found


def _undocumented(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: "" if key in DOC_KEYS and isinstance(value, str) else _undocumented(value)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_undocumented(value) for value in node]
    return node


def _loaded(session: boto3.session.Session, service: str, type_name: str) -> Any:
    return session._session.get_component("data_loader").load_service_model(
        service, type_name)


@pytest.fixture
def gateway_and_session(aws):
    session = _fresh_session()
    return AwsGateway(session_factory=lambda: session, endpoint_url=aws.endpoint_url,
                      max_attempts=1), session


def test_the_models_a_client_loads_hold_no_documentation_and_no_ordered_dicts(
        gateway_and_session):
    gateway, session = gateway_and_session
    for service in ("sagemaker", "ec2", "efs", "s3"):
        gateway.client(service, "us-east-1")
        model = _loaded(session, service, "service-2")
        nodes = _walk(model)
        documented = [path for path, node in nodes if isinstance(node, dict)
                      and any(node.get(key, "") != "" for key in DOC_KEYS)]
        ordered = [path for path, node in nodes if isinstance(node, OrderedDict)]
        assert documented == [] and ordered == [], (service, documented[:3], ordered[:3])
        # What calls need is all there: botocore's own parse, less the documentation.
        plain = botocore.loaders.create_loader().load_service_model(service, "service-2")
        assert model == _undocumented(plain)
    # Repeated names are one string each, not one per occurrence.
    shapes = _loaded(session, "sagemaker", "service-2")["shapes"]
    member_shapes = [member["shape"] for shape in shapes.values()
                     for member in shape.get("members", {}).values()]
    strings = [s for s in member_shapes if s == "String"]
    assert len(strings) > 10 and len({id(s) for s in strings}) == 1


def test_calls_paginators_waiters_and_validation_work_on_the_compact_models(
        gateway_and_session):
    gateway, session = gateway_and_session
    efs = gateway.client("efs", "us-east-1")
    made = efs.create_file_system(CreationToken="compact-models", PerformanceMode="generalPurpose",
                                  Tags=[{"Key": "Name", "Value": "compact"}])
    pages = list(efs.get_paginator("describe_file_systems").paginate())
    assert [fs["FileSystemId"] for page in pages for fs in page["FileSystems"]] == [
        made["FileSystemId"]]
    dynamodb = gateway.client("dynamodb", "us-east-1")
    dynamodb.create_table(TableName="compact", BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    dynamodb.get_waiter("table_exists").wait(TableName="compact",
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert gateway.calls[("dynamodb", "DescribeTable", "ok")] >= 1
    sagemaker = gateway.client("sagemaker", "us-east-1")
    assert list(sagemaker.get_paginator("list_domains").paginate())[0]["Domains"] == []
    with pytest.raises(ParamValidationError, match="DomainId"):
        sagemaker.describe_domain()
    # A docstring is still made on demand (botocore reads the model, finds no text).
    assert "DescribeDomain" in str(sagemaker.describe_domain.__doc__)
    assert gateway.calls[("efs", "CreateFileSystem", "ok")] == 1
    # S3 builds its client context parameters from their documentation keys.
    s3 = gateway.client("s3", "us-east-1")
    s3.create_bucket(Bucket="compact-models")
    s3.put_object(Bucket="compact-models", Key="k", Body=b"v")
    assert s3.get_object(Bucket="compact-models", Key="k")["Body"].read() == b"v"
    assert [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="compact-models") for o in page.get("Contents", [])] == ["k"]
    # Only the shapes of what was called (and checked) were parsed, of thousands.
    shapes = _loaded(session, "sagemaker", "service-2")["shapes"]
    assert isinstance(shapes, ShapesOnDemand)
    assert {"ListDomainsRequest", "DescribeDomainRequest"} <= shapes.parsed()
    assert len(shapes.parsed()) < len(shapes) / 20
