"""A private git repository over HTTP for the credentials tests: git's own smart-HTTP
server (`git http-backend`, run as CGI per request) behind HTTP Basic authentication,
on a loopback port. It records each request's Authorization header, so a test sees
what reached the server."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: _GitServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        header = self.headers.get("Authorization", "")
        self.server.seen.append(header)
        if header != self.server.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="estate"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.server.root),
               "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command,
               "PATH_INFO": url.path, "QUERY_STRING": url.query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "ci"}
        done = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, timeout=60, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitServer(ThreadingHTTPServer):
    root: Path
    expected: str
    seen: list[str]


@contextmanager
def private_repository(root: Path, username: str, token: str) -> Iterator[_GitServer]:
    """Serve the bare repositories under `root` at http://127.0.0.1:<port>/<name>.git,
    to requests with these credentials only."""
    server = _GitServer(("127.0.0.1", 0), _Handler)
    server.root = root
    server.expected = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def url_of(server: _GitServer, name: str) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/{name}"
