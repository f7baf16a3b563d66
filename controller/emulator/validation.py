"""Every request checked against botocore's service model, as AWS checks it server-side.

AWS refuses a request whose input breaks its model's constraints before any resource
is looked at: a required member missing, a string or blob too short or too long or not
matching its pattern, a value outside its enum, a number out of range, a list or map with
too many or too few entries, a union with other than one member set; at any depth.
botocore checks only some of that client-side (never maximum lengths, patterns or enums),
so without this a 100-character EFS CreationToken would pass here and fail on AWS.

One generic layer, driven by the installed models, no per-operation list: the router
calls `ModelValidator.check` before the extensions and moto. Violations are answered in
the service's own error shape: ValidationException for JSON and CBOR services, EFS's
BadRequest (rest-json, with ErrorCode), ValidationError for IAM, STS and other query
services, MissingParameter / InvalidParameterValue for EC2 (and CloudWatch), with
AWS's "N validation errors detected: Value ... at 'path' failed to satisfy constraint:
..." message. Patterns are Java regular expressions (\\p{L}, \\z, surrogate ranges):
they are compiled with the `regex` module after a small translation and matched against
the whole value, the stricter reading; a pattern that still cannot be compiled is
skipped and listed by `uncheckable_patterns()`.

Not checked: rest-xml (S3). Its input is XML plus many header-bound members and its
errors are per-operation codes (InvalidArgument, InvalidBucketName, ...); moto already
checks what the operator's S3 use depends on. This module must not know about any
particular operation or resource.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import botocore.session
import regex
from botocore.model import OperationModel, ServiceModel, Shape

from controller.emulator.protocol import AwsRequest, Reply, error_reply
from controller.emulator.wire_input import (
    READABLE_PROTOCOLS,
    Unreadable,
    WireTypeError,
    read_input,
)

# The error a constraint violation answers, by protocol, then by service where the
# service's own model names another (codes as AWS sends them).
_INVALID = {"json": "ValidationException", "smithy-rpc-v2-cbor": "ValidationException",
            "rest-json": "ValidationException", "query": "ValidationError",
            "ec2": "InvalidParameterValue"}
_SERVICE_INVALID = {"efs": "BadRequest", "cloudwatch": "InvalidParameterValue"}
_SERVICE_MISSING = {"ec2": "MissingParameter", "cloudwatch": "MissingParameter"}
# JSON services answer a value of the wrong type as a serialization error.
_TYPE_ERROR = {"json": "SerializationException", "smithy-rpc-v2-cbor": "SerializationException"}
_SHOWN_VALUE_LIMIT = 256
_PATTERN_TIMEOUT_SECONDS = 0.1
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "long": (int,), "float": (int, float),
    "double": (int, float), "boolean": (bool,), "structure": (dict,), "list": (list,),
    "map": (dict,), "blob": (str, bytes), "timestamp": (int, float, str, datetime),
}


@dataclass(frozen=True)
class Violation:
    path: str  # member path as AWS names it: "defaultUserSettings.securityGroups"
    value: Any
    constraint: str  # "Member must have length less than or equal to 5"
    missing: bool = False
    wrong_type: bool = False

    def message(self) -> str:
        shown = "null" if self.value is None else f"'{_shown(self.value)}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


class ModelValidator:
    """Checks requests against the installed botocore models (loaded once per service)."""

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._lock = threading.Lock()
        self._models: dict[str, ServiceModel | None] = {}

    def check(self, request: AwsRequest) -> Reply | None:
        """None when the request is valid (or not checkable); else the error to answer."""
        if request.protocol not in READABLE_PROTOCOLS:
            return None
        operation = self._operation(request.service, request.operation)
        if operation is None:
            return None
        type_errors: list[WireTypeError] = []
        try:
            given = read_input(request, operation, type_errors)
        except Unreadable:
            return None  # the service itself answers a malformed body
        violations = [Violation(e.path, e.value, f"Member must be of type {e.expected}",
                                wrong_type=True) for e in type_errors]
        if operation.input_shape is not None:
            violations += violations_of(given, operation.input_shape)
        if not violations:
            return None
        return _error(request, violations)

    def _operation(self, service: str, name: str) -> OperationModel | None:
        with self._lock:
            if service not in self._models:
                try:
                    self._models[service] = self._session.get_service_model(service)
                except Exception:  # a signing name botocore does not know: moto decides
                    self._models[service] = None
            model = self._models[service]
        if model is None or name not in model.operation_names:
            return None
        return model.operation_model(name)


def violations_of(value: Any, shape: Shape, path: str = "") -> list[Violation]:
    """Every constraint of `shape` (and below) that `value` breaks."""
    found: list[Violation] = []
    _check(value, shape, path, found)
    return found


def _check(value: Any, shape: Shape, path: str, found: list[Violation]) -> None:
    kind = shape.type_name
    expected = _PYTHON_TYPES.get(kind)
    if expected is not None and (not isinstance(value, expected) or (
            isinstance(value, bool) and kind != "boolean")):
        found.append(Violation(path, value, f"Member must be of type {kind}", wrong_type=True))
        return
    meta = shape.metadata
    if kind == "structure":
        _check_structure(value, shape, path, found)
    elif kind in ("list", "map"):
        _check_size(value, len(value), meta, "length", path, found)
        if kind == "list":
            for index, item in enumerate(value, 1):
                if item is not None:
                    _check(item, shape.member, f"{path}.{index}.member", found)
        else:
            for key, item in value.items():
                _check(key, shape.key, f"{path}.{key}.key", found)
                if item is not None:
                    _check(item, shape.value, f"{path}.{key}.value", found)
    elif kind == "string":
        _check_size(value, len(value), meta, "length", path, found)
        if "enum" in meta and value not in meta["enum"]:
            found.append(Violation(path, value, "Member must satisfy enum value set: "
                                   f"[{', '.join(meta['enum'])}]"))
        pattern = meta.get("pattern")
        if pattern and not _matches(pattern, value):
            found.append(Violation(path, value, "Member must satisfy regular expression "
                                   f"pattern: {pattern}"))
    elif kind == "blob":
        size = _blob_length(value)
        if size is None:
            found.append(Violation(path, value, "Member must be base64 encoded",
                                   wrong_type=True))
        else:
            _check_size(value, size, meta, "length", path, found)
    elif kind in ("integer", "long", "float", "double"):
        _check_size(value, value, meta, "value", path, found)


def _check_structure(value: Mapping[str, Any], shape: Shape, path: str,
                     found: list[Violation]) -> None:
    if shape.metadata.get("document"):
        return
    members = shape.members
    for name in shape.metadata.get("required", ()):
        if value.get(name) is None:
            found.append(Violation(_join(path, name), None, "Member must not be null",
                                   missing=True))
    if shape.metadata.get("union"):
        given = [k for k, v in value.items() if v is not None and k in members]
        if len(given) != 1:
            found.append(Violation(path or shape.name, value, "Member must have exactly one "
                                   f"member set; found {len(given)}"))
    for name, item in value.items():
        member = members.get(name)
        if member is not None and item is not None:
            _check(item, member, _join(path, name), found)


def _check_size(value: Any, size: float, meta: Mapping[str, Any], what: str, path: str,
                found: list[Violation]) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        found.append(Violation(path, value, f"Member must have {what} greater than or equal "
                               f"to {_number(low)}"))
    if high is not None and size > high:
        found.append(Violation(path, value, f"Member must have {what} less than or equal to "
                               f"{_number(high)}"))


def _blob_length(value: str | bytes) -> int | None:
    if isinstance(value, bytes):
        return len(value)
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    if compiled is None:
        return True  # listed by uncheckable_patterns(); never refuse on a guess
    try:
        return compiled.fullmatch(value, timeout=_PATTERN_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        return True


# Java writes characters beyond the BMP as surrogate pairs; Python strings hold them whole.
_SURROGATE_RANGE = r"\uD800\uDC00-\uDBFF\uDFFF"
_JAVA_HEX = regex.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> regex.Pattern[str] | None:
    text = pattern.replace(_SURROGATE_RANGE, r"\U00010000-\U0010FFFF")
    text = _JAVA_HEX.sub(lambda m: f"\\U{int(m[1], 16):08x}", text)
    text = text.replace(r"\p{all}", r"\s\S")
    try:
        return regex.compile(text)
    except regex.error:
        _UNCHECKABLE.add(pattern)
        return None


_UNCHECKABLE: set[str] = set()


def uncheckable_patterns() -> frozenset[str]:
    """Model patterns met so far that could not be compiled (so were not enforced)."""
    return frozenset(_UNCHECKABLE)


def _error(request: AwsRequest, violations: list[Violation]) -> Reply:
    service, protocol = request.service, request.protocol
    if protocol == "ec2" or service in _SERVICE_MISSING:
        return _first_error_reply(request, violations[0])
    if any(v.wrong_type for v in violations) and protocol in _TYPE_ERROR:
        first = next(v for v in violations if v.wrong_type)
        return error_reply(protocol, _TYPE_ERROR[protocol], first.message(), 400)
    code = _SERVICE_INVALID.get(service, _INVALID[protocol])
    count = len(violations)
    text = (f"{count} validation error{'s' if count > 1 else ''} detected: "
            + "; ".join(v.message() for v in violations))
    return error_reply(protocol, code, text, 400)


def _first_error_reply(request: AwsRequest, violation: Violation) -> Reply:
    """EC2-style services name one parameter per error, in their own words, by its
    wire name ("MaxResults", "Filter.1.Name")."""
    name = ".".join(part[:1].upper() + part[1:] for part in violation.path.split(".")
                    if part != "member")
    if violation.missing:
        code = _SERVICE_MISSING.get(request.service, "MissingParameter")
        return error_reply(request.protocol, code,
                           f"The request must contain the parameter {name}", 400)
    code = _SERVICE_INVALID.get(request.service, _INVALID.get(request.protocol, "Invalid"))
    return error_reply(request.protocol, code, f"Value ({_shown(violation.value)}) for "
                       f"parameter {name} is invalid. {violation.constraint}", 400)


def _join(path: str, name: str) -> str:
    # AWS names members lowerCamelCase in these messages ("creationToken").
    camel = name[:1].lower() + name[1:]
    return f"{path}.{camel}" if path else camel


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        text = "[" + ", ".join(_shown(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}={_shown(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, bytes):
        text = f"<{len(value)} bytes>"
    else:
        text = str(value)
    return text if len(text) <= _SHOWN_VALUE_LIMIT else text[:_SHOWN_VALUE_LIMIT] + "..."
