"""The controller's HTTP endpoints: /metrics (Prometheus text), /healthz, /readyz.

/healthz answers 200 while the process runs; /readyz answers 200 once the controller has
looked at its region (its first pass finished, or it stands by behind another replica's
lease), 503 before, so an orchestrator does not route to, or count on, a controller that
has not started its work.

Anyone who can reach the port can connect, so the server must not be the weak point:
it binds loopback unless given an address (on Fargate the task definition passes one);
one asyncio loop serves every connection (an idle client costs a socket, not a thread);
a client has `client_timeout` seconds in all to send its request, and no more than
`max_connections` are held: a new one pushes out the oldest that has still not sent its
request. So /healthz answers while hundreds of clients sit idle or dribble bytes.
The server speaks just enough HTTP/1.1 for scrapers and probes (GET/HEAD, one request
per connection); it must not grow into a web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

MAX_REQUEST_BYTES = 8192
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


class HealthServer:
    def __init__(self, port: int, host: str = "127.0.0.1", *, max_connections: int = 64,
                 client_timeout: float = 5.0) -> None:
        self.ready = threading.Event()
        self.max_connections = max_connections
        self.client_timeout = client_timeout
        # Bound here, not in the loop's thread: a busy port is the caller's error to report.
        self._socket = socket.create_server((host, port), backlog=256)
        self.address: tuple[str, int] = self._socket.getsockname()[:2]
        self.port = self.address[1]
        self._loop = asyncio.new_event_loop()
        # Rendering /metrics walks the registry (locks); keep it off the loop, bounded.
        self._render = ThreadPoolExecutor(max_workers=2, thread_name_prefix="metrics-render")
        self._waiting: dict[asyncio.Task[None], None] = {}  # still sending their request
        self._open: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="health-server")

    def start(self) -> HealthServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            closing = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            with contextlib.suppress(Exception):  # stopping anyway; nothing to report
                closing.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        else:
            self._socket.close()
        self._render.shutdown(wait=False)

    # --- the loop's thread -----------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(
            self._connection, sock=self._socket, limit=MAX_REQUEST_BYTES))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _close(self) -> None:
        """Stop listening, then end every connection and wait until each has."""
        if self._server is not None:
            self._server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._make_room()
        self._open.add(task)
        self._waiting[task] = None
        answer: bytes | None = None
        try:
            try:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                 self.client_timeout)
            except asyncio.LimitOverrunError:
                answer = _response(431, {}, b"request too large\n", False)
            else:
                self._waiting.pop(task, None)
                status, headers, body = await self._answer(request)
                answer = _response(status, headers, body, request.startswith(b"HEAD "))
            writer.write(answer)
            writer.close()  # after what was written has gone out
            await asyncio.wait_for(writer.wait_closed(), self.client_timeout)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError,
                asyncio.CancelledError):
            writer.transport.abort()  # too slow, gone, or pushed out: no lingering
        finally:
            self._waiting.pop(task, None)
            self._open.discard(task)

    def _make_room(self) -> None:
        """At the cap, push out the oldest connection that has not sent its request."""
        while len(self._open) >= self.max_connections and self._waiting:
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            self._open.discard(oldest)
            oldest.cancel()

    async def _answer(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        head = request.decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b"GET or HEAD only\n"
        if path == "/healthz":
            return 200, {}, b"ok\n"
        if path == "/readyz":
            if self.ready.is_set():
                return 200, {}, b"ready\n"
            return 503, {}, b"not looked at its region yet\n"
        if path == "/metrics":
            accept = next((line.partition(":")[2].strip() for line in head[1:]
                           if line.lower().startswith("accept:")), "")
            encoder, content_type = choose_encoder(accept)
            body = await self._loop.run_in_executor(self._render, _render(encoder))
            return 200, {"Content-Type": content_type}, body
        return 404, {}, b"try /metrics, /healthz or /readyz\n"


def _render(encoder: Callable[..., bytes]) -> Callable[[], bytes]:
    return lambda: encoder(REGISTRY)


def _response(status: int, headers: dict[str, str], body: bytes, head_only: bool) -> bytes:
    fields = {"Content-Type": "text/plain; charset=utf-8", **headers,
              "Content-Length": str(len(body)), "Connection": "close"}
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}"]
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)
