"""Where every byte goes: data to stdout, everything else to stderr; JSON or human, decided once.

Under --json, stdout carries exactly one JSON object with "schema_version": 1 (a result or an error)
and nothing else. Colour and progress appear only on a terminal; rich honours NO_COLOR.
"""

from __future__ import annotations

import json
import os
import sys

SCHEMA_VERSION = 1


class Output:
    def __init__(self, json_mode: bool = False):
        self.json_mode = json_mode
        self._out = None
        self._err = None

    # rich is imported only when something is rendered for a person: JSON runs never load it.
    @property
    def out(self):
        if self._out is None:
            from rich.console import Console

            self._out = Console(file=sys.stdout, highlight=False, soft_wrap=False)
        return self._out

    @property
    def err(self):
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        return self._err

    @property
    def interactive(self) -> bool:
        """Progress bars only for a person watching a terminal."""
        return not self.json_mode and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"

    def json(self, payload: dict) -> None:
        """The one JSON object of a --json run, on stdout."""
        document = {"schema_version": SCHEMA_VERSION, **payload}
        sys.stdout.write(json.dumps(document, indent=2, default=_default) + "\n")
        sys.stdout.flush()

    def show(self, renderable) -> None:
        """Human data on stdout (tables, results)."""
        self.out.print(renderable)

    def line(self, text: str) -> None:
        """A plain line of data on stdout, with no markup or wrapping (paths, commands)."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def info(self, message: str) -> None:
        self.err.print(message, markup=False)

    def warning(self, message: str) -> None:
        self.err.print(f"[yellow]Warning:[/yellow] {_escape(message)}")

    def hint(self, message: str) -> None:
        self.err.print(f"[dim]Hint: {_escape(message)}[/dim]")

    def error(self, code: str, message: str, hint: str | None = None, details=None) -> None:
        """One line on stderr (and a hint); under --json also the error object on stdout."""
        message, hint = _redact(message), _redact(hint) if hint else hint
        sys.stderr.write(f"Error: {message}\n")
        if hint:
            sys.stderr.write(f"Hint: {hint}\n")
        sys.stderr.flush()
        if self.json_mode:
            error = {"code": code, "message": message, "hint": hint}
            if details:
                error["details"] = details
            self.json({"error": error})


def _redact(text: str) -> str:
    """Belt and braces: no error text ever carries the Hub token, whatever a library put in it."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = os.environ.get(name)
        if token and len(token) >= 8:
            text = text.replace(token, "<token>")
    return text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _default(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
