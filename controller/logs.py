"""Logging set-up: one JSON object per line on stderr (or readable text on a terminal)
for everything the process logs, the controller's structlog events and standard-library
loggers alike (botocore's retries, urllib3's connection warnings, ...).

Every event has `event`, `level`, `timestamp` and `logger` (the module that wrote it);
an exception carries its traceback in `exception`. Events carry the resource key,
region, revision, outcome and duration where they apply.

Credentials must never reach a log: the controller never logs them, botocore's
wire-level loggers (which print signed headers) stay at INFO or above whatever the
level, and, should anyone turn them on anyway, every rendered line is scrubbed of
access key ids, signatures, session tokens and secret keys before it is written.
This module must not decide what is logged, only how.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

# botocore's retry decisions are worth seeing at debug; its other debug output is the
# wire itself (canonical requests with the session token, bodies), never wanted.
_WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
_KEEP_AT_LEVEL = ("botocore.retries",)

_SECRETS = [
    # SigV4 Authorization header: Credential=AKID/date/region/service/aws4_request
    (re.compile(r"(Credential=)[^\s,/\"']+"), r"\1<redacted>"),
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1<redacted>"),
    # x-amz-security-token as a header (name: value, 'name': b'value') or query parameter
    (re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^\s'\",&;}]+"),
     r"\1<redacted>"),
    (re.compile(r"(?i)((?:aws_)?(?:secret_?access_?key|session_?token|access_?key_?id)"
                r"['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"), r"\1<redacted>"),
]

_HANDLER_MARK = "_studio_operator_handler"


def configure(level: str = "info", json: bool = True) -> None:
    """Route structlog and the standard library through one formatter on stderr.

    Safe to call again (tests, `demo` after the emulator started): the handler it
    installed before is replaced, never doubled.
    """
    number = logging.getLevelNamesMapping()[level.upper()]
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON: the traceback as text in `exception`; the console renderer prints
            # exc_info itself, nicely.
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
            _scrub,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    for name in _WIRE_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))
    for name in _KEEP_AT_LEVEL:
        logging.getLogger(name).setLevel(number)


def get_logger(**bound: object) -> structlog.typing.FilteringBoundLogger:
    """A logger named after the calling module (the `logger` field), with `bound` fields."""
    name = sys._getframe(1).f_globals.get("__name__", "studio_operator")
    return structlog.get_logger(name).bind(**bound)  # type: ignore[no-any-return]


def _scrub(_logger: Any, _method: str, rendered: Any) -> Any:
    """The last step: whatever a line says, no credential survives in it."""
    if isinstance(rendered, str):
        for pattern, replacement in _SECRETS:
            rendered = pattern.sub(replacement, rendered)
    return rendered


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now, not what it was when configured, so a stream
    swapped (by a test runner, say) and closed is never written to later."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass
