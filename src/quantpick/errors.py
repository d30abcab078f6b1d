"""The domain errors a command may end with. They speak of the model and the machine, never of flags.

The CLI maps each class to an exit code and a flag name through one table (quantpick.cli.errors);
anything else that escapes a command is a bug: exit 1, traceback behind QUANTPICK_DEBUG=1.
"""

from __future__ import annotations

from typing import Any


class QuantpickError(Exception):
    """An expected failure: one line for the user, an optional hint, a stable code for scripts."""

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code
        self.details = details


class UsageError(QuantpickError):
    """The request itself is wrong (an unknown quant, a malformed file the user named)."""

    default_code = "usage"


class InvalidValue(UsageError):
    """One input value is out of its domain. `field` names the setting (ctx, vram, ...), not a flag."""

    default_code = "invalid_value"

    def __init__(self, field: str | None, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint=hint, code=code)
        self.field = field


class CatalogError(QuantpickError):
    default_code = "catalog_invalid"


class NoFitError(QuantpickError):
    default_code = "nothing_fits"


class HubError(QuantpickError):
    default_code = "hub_error"


class DownloadError(QuantpickError):
    default_code = "download_failed"


class Interrupted(QuantpickError):
    default_code = "interrupted"
