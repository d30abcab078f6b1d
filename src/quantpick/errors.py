"""The exceptions a command may end with, each with its documented exit code.

Anything else that escapes a command is a bug: exit 1 with the traceback behind QUANTPICK_DEBUG=1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_NO_FIT = 3
EXIT_HUB = 4
EXIT_DOWNLOAD = 5
EXIT_INTERRUPTED = 130


class QuantpickError(Exception):
    """An expected failure: one line for the user, an optional hint, a stable code for scripts."""

    exit_code = EXIT_UNEXPECTED
    default_code = "error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None, details=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code
        self.details = details


class UsageError(QuantpickError):
    exit_code = EXIT_USAGE
    default_code = "usage"


class CatalogError(QuantpickError):
    exit_code = EXIT_USAGE
    default_code = "catalog_invalid"


class NoFitError(QuantpickError):
    exit_code = EXIT_NO_FIT
    default_code = "nothing_fits"


class HubError(QuantpickError):
    exit_code = EXIT_HUB
    default_code = "hub_error"


class DownloadError(QuantpickError):
    exit_code = EXIT_DOWNLOAD
    default_code = "download_failed"


class Interrupted(QuantpickError):
    exit_code = EXIT_INTERRUPTED
    default_code = "interrupted"
