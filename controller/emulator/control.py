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
    POST /_emulator/latency                 {"latency": true, "rate_limits": true, "scale": 1.0,
                                             "jitter": .., "seed": .., "latencies": {pattern: s},
                                             "rates": {pattern: [capacity, per_second]}}:
                                            AWS's latencies and rate limits (pacing.py)
    GET  /_emulator/latency  DELETE /_emulator/latency   (DELETE: the emulator's own speed)
    GET  /_emulator/request-counts          DELETE /_emulator/request-counts
    POST /_emulator/reset                   all state, as Emulator.reset()
    POST /_emulator/replication/sync        one replication pass now
    GET  /_emulator/mounts                  {"mounts": [...]} the mounts active now
    POST /_emulator/mounts                  {"file_system_id": .., "region": .., "client_id"?,
                                             "principal"?, "read_only"?, "subnet_ids"?,
                                             "security_groups"?} -> {"client_id": ..};
                                            403 {"error": why} when EFS would refuse it
    DELETE /_emulator/mounts/<client id>    {"unmounted": n}
    POST /_emulator/metrics/publish         {"published": n} ClientConnections now
    POST /_emulator/service-quotas          {"service_code": .., "quota_code": .., "value": ..,
                                             "region"?} the value GetServiceQuota answers

These are never faulted or counted. This module must not hold state: it calls the
Emulator's own methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from controller.emulator.efs_mounts import MountRefused

if TYPE_CHECKING:  # server.py builds ControlApp: importing it at run time would be a cycle
    from controller.emulator.server import Emulator


class ControlApp:
    def __init__(self, emulator: Emulator):
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
        except MountRefused as error:  # what mount.nfs would report: access denied
            response = Response(json.dumps({"error": str(error)}), 403,
                                content_type="application/json")
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
                    client_connections_interval_seconds=body.get(
                        "client_connections_interval_seconds"),
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
        if path == "/latency" and method in ("GET", "POST", "DELETE"):
            if method == "POST":
                emulator.set_latency_model(
                    latency=bool(body.get("latency", True)),
                    rate_limits=bool(body.get("rate_limits", True)),
                    scale=float(body.get("scale", 1.0)),
                    jitter=float(body.get("jitter", 0.2)),
                    seed=int(body.get("seed", 0)),
                    latencies=body.get("latencies"),
                    rates=body.get("rates"),
                )
            elif method == "DELETE":
                emulator.clear_latency_model()
            return emulator.latency_model_snapshot()
        if path == "/request-counts" and method in ("GET", "DELETE"):
            if method == "DELETE":
                emulator.reset_request_counts()
            return emulator.request_counts()
        if route == ("POST", "/reset"):
            emulator.reset()
            return {"reset": True}
        if route == ("POST", "/replication/sync"):
            return {"mirrored": emulator.sync_replication()}
        if route == ("GET", "/mounts"):
            return {"mounts": emulator.mounts()}
        if route == ("POST", "/mounts"):
            return {"client_id": emulator.mount(
                str(body["file_system_id"]), str(body.get("region", "us-east-1")),
                client_id=body.get("client_id"), principal=body.get("principal"),
                read_only=bool(body.get("read_only", False)),
                subnet_ids=list(body.get("subnet_ids") or []),
                security_groups=list(body.get("security_groups") or []))}
        if method == "DELETE" and path.startswith("/mounts/"):
            ended = emulator.unmount(path.removeprefix("/mounts/"))
            if not ended:
                raise LookupError(f"no active mount of client {path.removeprefix('/mounts/')}")
            return {"unmounted": ended}
        if route == ("POST", "/metrics/publish"):
            return {"published": emulator.publish_client_connections()}
        if route == ("POST", "/service-quotas"):
            emulator.set_service_quota(str(body["service_code"]), str(body["quota_code"]),
                                       float(body["value"]),
                                       str(body.get("region", "us-east-1")))
            return {"set": True}
        raise LookupError(f"no control endpoint {method} /_emulator{path}")
