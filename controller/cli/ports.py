"""Opening the ports studioctl serves on, with a one-line error people can act on.

A busy port is the commonest way `make run` or a second `studioctl run` fails; it must
read as one line naming the port and the option that moves it, never a traceback.
This module must not decide which port anything uses.
"""

from __future__ import annotations

import errno
import socket
import sys

from controller.health import HealthServer


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "the port is in use (another studioctl?)"
    return error.strerror or str(error)


def serve_health(host: str, port: int, make_hint: str = "") -> HealthServer | None:
    """The started metrics server, or None after saying on stderr why it cannot run."""
    try:
        return HealthServer(port, host=host).start()
    except OSError as error:
        print(f"studioctl: cannot serve metrics on {host}:{port}: {_why(error)}; choose "
              f"another with --metrics-port{make_hint}", file=sys.stderr)
        return None


def emulator_port_free(host: str, port: int, make_hint: str = "") -> bool:
    """Whether the emulator can bind `port`; if not, says why on stderr. (The emulator's
    web server would print two lines of its own and exit the process instead.)"""
    if port == 0:
        return True
    try:
        with socket.create_server((host, port)):
            return True
    except OSError as error:
        print(f"studioctl: cannot start the AWS emulator on {host}:{port}: {_why(error)}; "
              f"choose another with --port{make_hint}", file=sys.stderr)
        return False
