"""The emulator's own way into moto: in-process, through moto's public HTTP surface.

The extensions need moto to do things AWS does behind the scenes (a domain's home EFS, a
replica file system in another region, checking that a subnet exists). They use real
boto3 clients whose requests are handed straight to moto's WSGI application instead of a
socket, so they speak the public API (no moto internals), skip the fault injector and
the request counter (AWS's own work is not the caller's API traffic), and cost about a
millisecond. This module must not hold resource state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.test import EnvironBuilder, run_wsgi_app

from controller.emulator.protocol import AwsError

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
DEFAULT_ACCOUNT = "123456789012"


class _BufferedBody:
    """The `raw` botocore reads an AWSResponse body from."""

    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        if self._data:
            yield self._data


class MotoGateway:
    """Calls into the wrapped moto application without the network or the middleware."""

    def __init__(self, moto_app: WsgiApp, host_header: str):
        self._app = moto_app
        self._host = host_header
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str, str], BaseClient] = {}
        self._accounts: dict[tuple[str, str], str] = {}
        self._session = boto3.session.Session(
            aws_access_key_id="emulator-internal", aws_secret_access_key="emulator-internal"
        )

    def raw(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        builder = EnvironBuilder(
            method=method,
            path=path,
            query_string=query,
            base_url=f"http://{self._host}",
            headers=list((headers or {}).items()),
            data=body,
        )
        return self.call(builder.get_environ())

    def call(self, environ: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        app_iter, status, response_headers = run_wsgi_app(self._app, environ, buffered=True)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return int(status.split()[0]), dict(response_headers.items()), body

    def client(self, service: str, region: str, account: str = DEFAULT_ACCOUNT) -> BaseClient:
        key = (service, region, account)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._make_client(service, region, account)
            return self._clients[key]

    def _make_client(self, service: str, region: str, account: str) -> BaseClient:
        # Called under self._lock: one session (and its loaded models) serves every client.
        client = self._session.client(
            service,
            region_name=region,
            endpoint_url=f"http://{self._host}",
            config=Config(retries={"total_max_attempts": 1}),
        )

        def send_in_process(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            headers = {
                k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
            }
            headers["x-moto-account-id"] = account  # the same account as the caller's
            url = urlsplit(request.url)
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):
                body = body.read()
            status, response_headers, data = self.raw(
                request.method, url.path, query=url.query, headers=headers, body=body
            )
            return AWSResponse(request.url, status, response_headers, _BufferedBody(data))

        client.meta.events.register_first(
            f"before-send.{client.meta.service_model.service_id.hyphenize()}", send_in_process
        )
        return client

    def account_of(self, access_key: str, account_header: str | None) -> str:
        """The account moto attributes to these credentials (assumed roles included)."""
        key = (access_key, account_header or "")
        with self._lock:
            if key in self._accounts:
                return self._accounts[key]
        headers = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/20240101/us-east-1/sts/"
            "aws4_request, SignedHeaders=host, Signature=0",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if account_header:
            headers["x-moto-account-id"] = account_header
        status, _, body = self.raw(
            "POST", "/", headers=headers, body=b"Action=GetCallerIdentity&Version=2011-06-15"
        )
        account = DEFAULT_ACCOUNT
        if status == 200:
            found = next(
                (
                    el.text
                    for el in ElementTree.fromstring(body).iter()
                    if el.tag.endswith("Account")
                ),
                None,
            )
            account = found or DEFAULT_ACCOUNT
        with self._lock:
            self._accounts[key] = account
        return account

    def forget(self) -> None:
        """Drop cached account look-ups (moto forgot its assumed-role keys on reset)."""
        with self._lock:
            self._accounts.clear()


def client_error_to_aws(error: ClientError) -> AwsError:
    """Carry an error moto answered an internal call with back to the caller unchanged."""
    info = error.response.get("Error", {})
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
    return AwsError(str(info.get("Code", "InternalFailure")), str(info.get("Message", "")), status)
