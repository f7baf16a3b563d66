"""The metrics server stands up to slow and idle clients: it binds loopback unless told
otherwise, holds a bounded number of connections, drops clients that do not send their
request in time, and /healthz keeps answering during a flood of them."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from controller.health import HealthServer
from controller.metrics import LEADER


@contextlib.contextmanager
def serving(**options) -> Iterator[HealthServer]:
    server = HealthServer(0, **options).start()
    try:
        yield server
    finally:
        server.stop()


def _idle(port: int, count: int) -> list[socket.socket]:
    """Connections that never send a byte."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _healthz_seconds(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b"ok\n"
    return time.monotonic() - started


def test_it_binds_loopback_unless_given_an_address():
    with serving() as server:
        assert server.address[0] == "127.0.0.1"
    with serving(host="0.0.0.0") as server:
        assert server.address[0] == "0.0.0.0"


def test_a_busy_port_is_an_error_when_the_server_is_made_not_later():
    with serving() as server, pytest.raises(OSError):
        HealthServer(server.port)


def test_a_client_that_sends_nothing_is_dropped_after_the_client_timeout():
    with serving(client_timeout=0.5) as server:
        (idle,) = _idle(server.port, 1)
        with idle:
            started = time.monotonic()
            assert _closed_by_server(idle, within=5)
            assert time.monotonic() - started < 3


def test_a_client_dribbling_its_request_is_dropped_at_the_same_deadline():
    with serving(client_timeout=1.0) as server, socket.create_connection(
            ("127.0.0.1", server.port), timeout=5) as slow:
        started = time.monotonic()
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        dropped = False
        for byte in b"X-Slow: " + b"a" * 40:  # one byte every 0.1 s, never the blank line
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            time.sleep(0.1)
            if time.monotonic() - started > 1.5:
                dropped = _closed_by_server(slow, within=1)
                break
        assert dropped, "a request that never ends holds no connection past the deadline"


def test_connections_over_the_cap_push_out_the_oldest_idle_ones():
    with serving(max_connections=8, client_timeout=30) as server:
        flood = _idle(server.port, 30)
        try:
            time.sleep(0.3)  # let the server accept them all
            closed = sum(_closed_by_server(s, within=0.2) for s in flood)
            assert closed >= 22, f"only {closed} of 30 closed: more than 8 held open"
            assert _healthz_seconds(server.port) < 1.0
        finally:
            for sock in flood:
                sock.close()


def test_healthz_answers_within_a_second_during_a_slow_client_flood():
    with serving() as server:  # the defaults the controller runs with
        flood = _idle(server.port, 300)
        dribblers = _idle(server.port, 20)
        try:
            for sock in dribblers:
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never finish
            for _ in range(3):
                assert _healthz_seconds(server.port) < 1.0
        finally:
            for sock in flood + dribblers:
                sock.close()


def test_metrics_and_readiness_are_served_as_before():
    LEADER.set(1)
    with serving() as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics",
                                    timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain")
            assert b"\nstudio_operator_leader 1.0\n" in answer.read()
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/readyz")
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(request, timeout=5)
        assert not_ready.value.code == 503
        server.ready.set()
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
