"""structlog set-up: one JSON object per line on stderr (or readable text on a terminal).

Events carry the resource key, region, revision, outcome and duration; nothing here
logs secrets (AWS credentials never reach a log call).
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "info", json: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        # sys.stderr is looked up when a logger is made, not once here, so a stream that
        # was swapped (by a test runner, say) and closed is never written to later.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: object) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger().bind(**bound)  # type: ignore[no-any-return]


def _stderr_logger(*_: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)
