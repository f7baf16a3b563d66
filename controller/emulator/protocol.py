"""How an incoming AWS request is recognised, and how AWS-shaped answers are written.

Every layer of the emulator (faults, counting, the router, the service extensions) needs
to know which service, region and operation a request is for, and needs to answer errors
in the wire format the calling SDK parses for that service's protocol. Both live here,
once. This module must not hold emulator state or decide anything about resources.
"""

from __future__ import annotations

import io
import json
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.session

# The SigV4 signing name is not always the boto3 client name; counts and fault filters
# speak boto3 names because that is what the operator's gateway uses.
SIGNING_NAME_TO_SERVICE = {
    "elasticfilesystem": "efs",
    "monitoring": "cloudwatch",
    "states": "stepfunctions",
    "execute-api": "apigateway",
    "servicequotas": "service-quotas",
}
REQUEST_ENVIRON_KEY = "studio_emulator.request"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class AwsError(Exception):
    """An error answered to the caller exactly as AWS would (code, message, status)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Reply:
    """A complete HTTP answer produced by the emulator itself."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class AwsRequest:
    """One signed AWS API call, with its body already read and put back for moto."""

    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    service: str
    region: str
    access_key: str
    protocol: str
    operation: str
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        loaded = json.loads(self.body)
        if not isinstance(loaded, dict):
            raise AwsError("SerializationException", "request body must be a JSON object")
        return loaded

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back so moto can read it again."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        body = stream.read(int(length)) if int(length) else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def parse_request(environ: dict[str, Any]) -> AwsRequest | None:
    """Recognise a signed AWS call; None for anything else (moto decides those)."""
    headers = {
        k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    if "CONTENT_TYPE" in environ:
        headers["content-type"] = environ["CONTENT_TYPE"]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    scope = _CREDENTIAL.search(headers.get("authorization", ""))
    if scope is None and "X-Amz-Credential" in query:
        scope = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if scope is None:
        return None
    access_key, region, signing_name = scope.groups()
    service = SIGNING_NAME_TO_SERVICE.get(signing_name, signing_name)
    body = read_body(environ)
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "/") or "/"
    protocol, operation, params = _identify(service, method, path, query, headers, body)
    return AwsRequest(
        environ=environ,
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        service=service,
        region=region,
        access_key=access_key,
        protocol=protocol,
        operation=operation,
        path_params=params,
    )


def _identify(
    service: str,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[str, str, dict[str, str]]:
    target = headers.get("x-amz-target")
    if target:
        return "json", target.rsplit(".", 1)[-1], {}
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        return "smithy-rpc-v2-cbor", path.rstrip("/").rsplit("/", 1)[-1], {}
    form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    action = query.get("Action", [""])[0]
    if form and not action:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if action:
        return ("ec2" if service == "ec2" else "query"), action, {}
    protocol, routes = _rest_routes(service)
    for route_method, pattern, required_query, required_headers, name in routes:
        if route_method != method or not all(q in query for q in required_query):
            continue
        if not all(h in headers for h in required_headers):
            continue
        match = pattern.fullmatch(path)
        if match:
            return protocol, name, {k: v for k, v in match.groupdict().items()}
    return protocol, f"{method} {path}", {}


@lru_cache(maxsize=64)
def _rest_routes(
    service: str,
) -> tuple[str, list[tuple[str, re.Pattern[str], tuple[str, ...], tuple[str, ...], str]]]:
    """Operation routes of a REST service from botocore's model, most specific first."""
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # an unknown signing name: moto answers it or fails visibly
        return "rest-json", []
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri, _, query_part = http.get("requestUri", "/").partition("?")
        required = tuple(p.split("=")[0] for p in query_part.split("&") if p)
        # S3 names several operations by one URI (PutObject, UploadPart, CopyObject are
        # all PUT /{Bucket}/{Key+}): the required query and header members tell them apart.
        query_members, header_members = _required_members(model.operation_model(name))
        required += query_members
        regex = ""
        literal = 0
        for piece in re.split(r"(\{[^}]+\})", uri):
            if piece.startswith("{"):
                greedy = piece.endswith("+}")
                group = re.sub(r"\W", "", piece)
                regex += f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)"
            else:
                regex += re.escape(piece)
                literal += len(piece)
        pattern = re.compile(regex.rstrip("/") + "/?" if regex != "/" else "/")
        routes.append((literal + 100 * (len(required) + len(header_members)), http["method"],
                       pattern, required, header_members, name))
    routes.sort(key=lambda r: -r[0])
    return model.metadata.get("protocol", "rest-json"), [r[1:] for r in routes]


def _required_members(operation: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    shape = operation.input_shape
    if shape is None:
        return (), ()
    query, headers = [], []
    for member in shape.required_members:
        serialization = shape.members[member].serialization
        where, wire = serialization.get("location"), serialization.get("name", member)
        if where == "querystring":
            query.append(wire)
        elif where == "header":
            headers.append(wire.lower())
    return tuple(query), tuple(headers)


def json_reply(data: Mapping[str, Any], status: int = 200, protocol: str = "json") -> Reply:
    content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
    return Reply(status, json.dumps(data, default=str).encode(), {"Content-Type": content_type})


def error_reply(protocol: str, code: str, message: str, status: int) -> Reply:
    """An error in the wire shape botocore's parser for `protocol` reads."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code}
    if protocol in ("json", "rest-json"):
        payload: dict[str, str] = {"__type": code, "Message": message}
        if protocol == "rest-json":  # EFS models its errors with an ErrorCode member
            payload = {"ErrorCode": code, "Message": message}
        headers["Content-Type"] = "application/json"
        return Reply(status, json.dumps(payload).encode(), headers)
    if protocol == "smithy-rpc-v2-cbor":
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        return Reply(status, _cbor_text_map({"__type": code, "message": message}), headers)
    code_xml, message_xml = escape(code), escape(message)
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code_xml}</Code><Message>{message_xml}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "query":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code_xml}</Code><Message>"
            f"{message_xml}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    else:  # rest-xml (S3)
        body = (
            f"<Error><Code>{code_xml}</Code><Message>{message_xml}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    headers["Content-Type"] = "text/xml"
    return Reply(status, ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode(), headers)


def _cbor_text_map(items: Mapping[str, str]) -> bytes:
    """A CBOR map of short text keys and values: all an rpc-v2-cbor error body needs."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + struct.pack(">H", min(length, 0xFFFF))

    out = head(5, len(items))
    for key, value in items.items():
        for text in (key, value):
            raw = text.encode()[:0xFFFF]
            out += head(3, len(raw)) + raw
    return out
