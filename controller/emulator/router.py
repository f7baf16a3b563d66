"""The WSGI application in front of moto: control, counting, faults, extensions, moto.

Each request is recognised once (service, region, operation), counted, possibly
answered with an injected fault, paced as AWS would (latency, or a throttle when its
token bucket is empty: pacing.py, when the model is on), checked against its service
model as AWS checks it (validation.py), then offered to the emulator's own service
extensions (SageMaker Studio, EFS); whatever they do not claim goes to moto untouched.
Errors the extensions raise become AWS-shaped errors of the caller's protocol; an
unexpected crash becomes a loud 500 InternalFailure naming the exception, never a
silent success. This module must not implement any AWS behaviour itself.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, Protocol

from botocore.exceptions import ClientError

from controller.emulator.faults import FaultInjector, RequestCounter
from controller.emulator.moto_gateway import WsgiApp, client_error_to_aws
from controller.emulator.pacing import Pacer
from controller.emulator.protocol import AwsError, AwsRequest, Reply, error_reply, parse_request

CONTROL_PREFIX = "/_emulator/"
StartResponse = Callable[..., Any]


class ServiceExtension(Protocol):
    def handle(self, request: AwsRequest) -> Reply | None: ...


class CallRecorder(Protocol):
    """Sees each served call and its answer (CloudTrail, for EventBridge)."""

    def wants(self, request: AwsRequest) -> bool: ...

    def record(self, request: AwsRequest, status: int, answer: bytes) -> None: ...


class RequestCheck(Protocol):
    """Answers an invalid request with its error, before anything serves it."""

    def check(self, request: AwsRequest) -> Reply | None: ...


class EmulatorApp:
    def __init__(
        self,
        moto_app: WsgiApp,
        extensions: Sequence[ServiceExtension],
        faults: FaultInjector,
        counter: RequestCounter,
        control: WsgiApp,
        on_moto_reset: Callable[[], None],
        checks: Sequence[RequestCheck] = (),
        pacer: Pacer | None = None,
        trail: CallRecorder | None = None,
    ):
        self._moto = moto_app
        self._extensions = extensions
        self._faults = faults
        self._counter = counter
        self._control = control
        self._on_moto_reset = on_moto_reset
        self._checks = checks
        self._pacer = pacer
        self._trail = trail

    def set_trail(self, trail: CallRecorder | None) -> None:
        """Who sees served calls (set once the in-process gateway exists)."""
        self._trail = trail

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        if path.startswith("/moto-api"):
            answer = list(self._moto(environ, start_response))
            if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                self._on_moto_reset()  # moto forgot everything: so must the emulator
            return answer
        request = parse_request(environ)
        if request is None:
            return self._moto(environ, start_response)
        self._counter.record(request.key)
        fault = self._faults.decide(request)
        if fault is not None:
            if fault.reply is None:
                return _drop_connection(environ, start_response, fault.delay_seconds)
            return _send(fault.reply, start_response)
        pace = self._pacer.decide(request) if self._pacer is not None else None
        if pace is not None:
            # In this request's own thread, holding nothing: calls overlap as on AWS.
            time.sleep(pace.delay)
            if pace.refusal is not None:
                return _send(pace.refusal, start_response)
        for check in self._checks:
            refusal = check.check(request)
            if refusal is not None:
                return _send(refusal, start_response)
        reply = self._serve(request)
        if self._trail is None or not self._trail.wants(request):
            if reply is None:
                return self._moto(environ, start_response)
            return _send(reply, start_response)
        if reply is None:
            status: list[int] = []

            def capture(line: str, headers: Any, *rest: Any) -> Any:
                status.append(int(line.split()[0]))
                return start_response(line, headers, *rest)

            served = b"".join(self._moto(environ, capture))
            self._trail.record(request, status[0] if status else 500, served)
            return [served]
        self._trail.record(request, reply.status, reply.body)
        return _send(reply, start_response)

    def _serve(self, request: AwsRequest) -> Reply | None:
        try:
            for extension in self._extensions:
                reply = extension.handle(request)
                if reply is not None:
                    return reply
            return None
        except AwsError as error:
            return error_reply(request.protocol, error.code, error.message, error.status)
        except ClientError as error:  # moto refused an internal call: the caller sees why
            aws = client_error_to_aws(error)
            return error_reply(request.protocol, aws.code, aws.message, aws.status)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            return error_reply(
                request.protocol,
                "InternalFailure",
                f"studio-operator emulator crashed serving {request.key}: {error!r}",
                500,
            )


def _send(reply: Reply, start_response: StartResponse) -> Iterable[bytes]:
    headers = {k: v for k, v in reply.headers.items() if k.lower() != "content-length"}
    headers["Content-Length"] = str(len(reply.body))
    try:
        phrase = HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = ""
    start_response(f"{reply.status} {phrase}".strip(), list(headers.items()))
    return [reply.body]


def _drop_connection(
    environ: dict[str, Any], start_response: StartResponse, delay: float
) -> Iterable[bytes]:
    """Hang, then close the socket without an answer: what a lost request looks like."""
    time.sleep(delay)
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):  # the client may have given up and closed it
            connection.shutdown(socket.SHUT_RDWR)
    # The server still wants a status; writing it to the closed socket fails quietly.
    start_response("504 Gateway Timeout", [("Content-Length", "0")])
    return []
