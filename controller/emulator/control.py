"""HTTP control endpoints under /_emulator/, for an emulator running in another process.

`studioctl emulator` runs in the foreground; a demo script or a test in another process
turns the same knobs as the Python API through these:

    GET  /_emulator/health                  {"ok": true}
    GET  /_emulator/config                  transition and replication settings
    POST /_emulator/config                  {"transition_seconds": ..,
                                             "replication_interval_seconds": ..}
    POST /_emulator/faults                  {"rate": .., "kinds": [..], "services": [..],
                                             "operations": [..], "seed": .., "timeout_seconds": ..,
                                             "regions": [..]}
    GET  /_emulator/faults   DELETE /_emulator/faults
    GET  /_emulator/request-counts          DELETE /_emulator/request-counts
    POST /_emulator/reset                   all state, as Emulator.reset()
    POST /_emulator/replication/sync        one replication pass now

These are never faulted or counted. This module must not hold state: it calls the
Emulator's own methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response


class Controllable(Protocol):
    def config_snapshot(self) -> dict[str, Any]: ...
    def configure(
        self,
        transition_seconds: float | None = None,
        replication_interval_seconds: float | None = None,
    ) -> None: ...
    def set_faults(
        self,
        rate: float,
        kinds: Iterable[str] = ...,
        services: Iterable[str] | None = None,
        operations: Iterable[str] | None = None,
        seed: int = 0,
        timeout_seconds: float = 1.0,
        regions: Iterable[str] | None = None,
    ) -> None: ...
    def clear_faults(self) -> None: ...
    def faults_snapshot(self) -> dict[str, Any]: ...
    def request_counts(self) -> dict[str, int]: ...
    def reset_request_counts(self) -> None: ...
    def reset(self) -> None: ...
    def sync_replication(self) -> int: ...


class ControlApp:
    def __init__(self, emulator: Controllable):
        self._emulator = emulator

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        route = (request.method, request.path.removeprefix("/_emulator").rstrip("/"))
        try:
            body = request.get_json(silent=True) or {}
            result = self._route(route, body)
            response = Response(json.dumps(result), 200, content_type="application/json")
        except (LookupError, TypeError, ValueError) as error:
            # A missing field (KeyError) or a bad value is the caller's mistake: 400;
            # an endpoint that does not exist: 404.
            known = not isinstance(error, LookupError) or isinstance(error, KeyError)
            response = Response(
                json.dumps({"error": str(error)}),
                400 if known else 404,
                content_type="application/json",
            )
        return response(environ, start_response)

    def _route(self, route: tuple[str, str], body: dict[str, Any]) -> Any:
        emulator = self._emulator
        method, path = route
        if route == ("GET", "/health"):
            return {"ok": True}
        if path == "/config" and method in ("GET", "POST"):
            if method == "POST":
                emulator.configure(
                    transition_seconds=body.get("transition_seconds"),
                    replication_interval_seconds=body.get("replication_interval_seconds"),
                )
            return emulator.config_snapshot()
        if path == "/faults" and method in ("GET", "POST", "DELETE"):
            if method == "POST":
                emulator.set_faults(
                    rate=float(body["rate"]),
                    kinds=body.get("kinds", ("throttle", "5xx")),
                    services=body.get("services"),
                    operations=body.get("operations"),
                    seed=int(body.get("seed", 0)),
                    timeout_seconds=float(body.get("timeout_seconds", 1.0)),
                    regions=body.get("regions"),
                )
            elif method == "DELETE":
                emulator.clear_faults()
            return emulator.faults_snapshot()
        if path == "/request-counts" and method in ("GET", "DELETE"):
            if method == "DELETE":
                emulator.reset_request_counts()
            return emulator.request_counts()
        if route == ("POST", "/reset"):
            emulator.reset()
            return {"reset": True}
        if route == ("POST", "/replication/sync"):
            return {"mirrored": emulator.sync_replication()}
        raise LookupError(f"no control endpoint {method} /_emulator{path}")
