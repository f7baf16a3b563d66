"""Turn what AWS answered into the controller's error taxonomy.

Throttling, 5xx and transport errors have already been retried by botocore; if they
still surface they are retryable (the work queue backs off). Bad input and missing
permissions are terminal: retrying cannot help, the condition says why. Pure.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from controller.errors import TerminalError

TERMINAL_CODES = frozenset({
    "ValidationException", "ValidationError", "InvalidParameterValue",
    "InvalidParameterCombination", "BadRequest", "AccessDenied", "AccessDeniedException",
    "UnauthorizedOperation", "UnrecognizedClientException", "ResourceLimitExceeded",
    "IncorrectFileSystemLifeCycleState", "FileSystemLimitExceeded",
    # EFS replication: an encrypted source and an unencrypted destination (model).
    "ConflictException",
})


def error_code(error: BaseException) -> str | None:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


def classify(error: BaseException) -> BaseException:
    """The error to raise: a TerminalError for terminal AWS codes, else `error` as it is."""
    code = error_code(error)
    if code in TERMINAL_CODES:
        message = error.response.get("Error", {}).get("Message", str(error))  # type: ignore[attr-defined]
        return TerminalError(code or "Terminal", f"{code}: {message}")
    return error


def is_expected_failure(error: BaseException) -> bool:
    """AWS answered with an error, the transport failed, or the file system did: worth a
    one-line message. Anything else is a bug, worth its traceback in the log."""
    return isinstance(error, ClientError | BotoCoreError | OSError)
