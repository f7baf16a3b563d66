"""Turn a request as it arrived on the wire back into the operation's input, per protocol.

The model check (validation.py) works on the input as botocore's service model shapes
it: a dict keyed by member names, lists, maps and typed scalars. Each protocol spreads
that input differently over the request: a JSON or CBOR body (json, smithy-rpc-v2-cbor),
the URI, query string, headers and a JSON body (rest-json), or flat form keys such as
`Tags.member.1.Key` (query) and `Filter.1.Value.1` (ec2). The readers here walk the
shapes and collect those pieces again, mirroring botocore's serializers. rest-xml (S3)
is not read: see validation.py for why.

A value that cannot be read as its shape's type (a query `MaxResults=abc`) is recorded
as a WireTypeError for the validator to report. This module must not judge values.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel, Shape
from botocore.parsers import RpcV2CBORParser

from controller.emulator.protocol import AwsRequest

READABLE_PROTOCOLS = ("json", "rest-json", "query", "ec2", "smithy-rpc-v2-cbor")


@dataclass(frozen=True)
class WireTypeError:
    """A value on the wire that is not of its member's type."""

    path: str
    value: str
    expected: str


class Unreadable(Exception):  # noqa: N818 - the request is left to moto, not an error
    """The body is not what the protocol says (not JSON, ...): not this layer's call."""


def read_input(
    request: AwsRequest, operation: OperationModel, type_errors: list[WireTypeError]
) -> dict[str, Any]:
    """The operation's input as the model shapes it, read back from `request`."""
    shape = operation.input_shape
    if shape is None:
        return {}
    protocol = request.protocol
    if protocol == "json":
        return _json_members(_json_body(request.body), shape)
    if protocol == "smithy-rpc-v2-cbor":
        return _cbor_body(request.body)
    if protocol == "rest-json":
        return _rest_json(request, shape)
    if protocol in ("query", "ec2"):
        flat = _form(request)
        return _FlatReader(flat, ec2=protocol == "ec2", type_errors=type_errors).structure(
            shape, ""
        )
    raise Unreadable(protocol)


def _json_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        loaded = json.loads(body)
    except ValueError:
        raise Unreadable("body is not JSON") from None
    if not isinstance(loaded, dict):
        raise Unreadable("body is not a JSON object")
    return loaded


def _cbor_body(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parser = RpcV2CBORParser()
        loaded = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    except Exception:
        raise Unreadable("body is not CBOR") from None
    if not isinstance(loaded, dict):
        raise Unreadable("body is not a CBOR map")
    return loaded


def _json_members(value: Any, shape: Shape) -> Any:
    """JSON keys are members' serialized names (`locationName`), values as sent."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        if shape.metadata.get("document"):
            return value
        by_wire = {m.serialization.get("name", name): (name, m) for name, m in
                   shape.members.items()}
        result: dict[str, Any] = {}
        for key, item in value.items():
            found = by_wire.get(key)
            if found is not None:
                result[found[0]] = _json_members(item, found[1])
        return result
    if shape.type_name == "list" and isinstance(value, list):
        return [_json_members(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, Mapping):
        return {key: _json_members(item, shape.value) for key, item in value.items()}
    return value


def _rest_json(request: AwsRequest, shape: Shape) -> dict[str, Any]:
    result: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            value = request.path_params.get(wire.rstrip("+"))
            if value is not None:
                result[name] = value
        elif location == "querystring":
            values = request.query.get(wire)
            if values:
                result[name] = values if member.type_name == "list" else _scalar(
                    values[0], member)
        elif location == "header":
            header = request.headers.get(wire.lower())
            if header is not None:
                result[name] = _scalar(header, member)
        elif location is None and name != payload:
            body_members[name] = member
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "structure":
            result[payload] = _json_members(_json_body(request.body), member)
        elif request.body:
            result[payload] = request.body
    elif body_members and request.body:
        body = _json_body(request.body)
        for name, member in body_members.items():
            wire = member.serialization.get("name", name)
            if wire in body:
                result[name] = _json_members(body[wire], member)
    return result


def _scalar(text: str, shape: Shape) -> Any:
    """A header or query string value, typed loosely (the validator checks types)."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if shape.type_name == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _form(request: AwsRequest) -> dict[str, str]:
    """Query and ec2 parameters: the URL's query string plus a form-encoded body."""
    flat = {key: values[0] for key, values in request.query.items() if values}
    if request.body and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        text = request.body.decode("utf-8", "replace")
        for key, values in parse_qs(text, keep_blank_values=True).items():
            flat[key] = values[0]
    return flat


class _FlatReader:
    """Rebuilds nested input from flat keys, the inverse of botocore's QuerySerializer
    (and EC2Serializer, whose lists are always flattened and names capitalised)."""

    def __init__(self, flat: dict[str, str], ec2: bool, type_errors: list[WireTypeError]):
        self.flat = flat
        self.ec2 = ec2
        self.type_errors = type_errors
        # Every dotted prefix of every key, so "is anything under X?" costs one lookup.
        self.prefixes: set[str] = set()
        for key in flat:
            parts = key.split(".")
            for end in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:end]))

    def present(self, key: str) -> bool:
        return key in self.flat or key in self.prefixes

    def _name(self, shape: Shape, default: str) -> str:
        if self.ec2:
            if "queryName" in shape.serialization:
                return str(shape.serialization["queryName"])
            name = shape.serialization.get("name")
            return name[0].upper() + name[1:] if name else default
        return str(shape.serialization.get("name", default))

    def value(self, shape: Shape, key: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, key)
        if kind == "list":
            return self.list(shape, key)
        if kind == "map":
            return self.map(shape, key)
        return self.scalar(shape, key)

    def structure(self, shape: Shape, prefix: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = self._name(member, name)
            key = f"{prefix}.{wire}" if prefix else wire
            if self.present(key) or (member.type_name == "list" and self._flat_list(member)
                                     and self.present(self._flattened_prefix(member, key))):
                value = self.value(member, key)
                if value is not None:  # unreadable: reported as a type error instead
                    result[name] = value
        return result

    def _flat_list(self, shape: Shape) -> bool:
        return self.ec2 or bool(shape.serialization.get("flattened"))

    def _flattened_prefix(self, shape: Shape, key: str) -> str:
        if self.ec2 or not shape.member.serialization.get("name"):
            return key
        name = self._name(shape.member, "")
        return ".".join([*key.split(".")[:-1], name])

    def list(self, shape: Shape, key: str) -> list[Any]:
        if self.flat.get(key) == "":
            return []  # botocore sends `Name=` for an empty (non-flattened) list
        if self._flat_list(shape):
            base = self._flattened_prefix(shape, key)
        else:
            base = f"{key}.{shape.member.serialization.get('name', 'member')}"
        items = []
        index = 1
        while self.present(f"{base}.{index}"):
            items.append(self.value(shape.member, f"{base}.{index}"))
            index += 1
        return items

    def map(self, shape: Shape, key: str) -> dict[str, Any]:
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = self._name(shape.key, "key")
        value_name = self._name(shape.value, "value")
        result: dict[str, Any] = {}
        index = 1
        while self.present(f"{base}.{index}"):
            entry = f"{base}.{index}"
            result[str(self.flat.get(f"{entry}.{key_name}", ""))] = self.value(
                shape.value, f"{entry}.{value_name}")
            index += 1
        return result

    def scalar(self, shape: Shape, key: str) -> Any:
        text = self.flat.get(key)
        if text is None:
            return None
        kind = shape.type_name
        try:
            if kind in ("integer", "long"):
                return int(text)
            if kind in ("float", "double"):
                return float(text)
            if kind == "boolean":
                return {"true": True, "false": False}[text]
            if kind == "blob":
                return base64.b64decode(text, validate=True)
        except (ValueError, KeyError, binascii.Error):
            self.type_errors.append(WireTypeError(key, text, kind))
            return None
        return text
