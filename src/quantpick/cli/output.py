"""Where every byte goes: data to stdout, everything else to stderr; JSON or human, decided once per run.

Under --json, stdout carries exactly one JSON document (a declared type of quantpick.documents, a
result or an error) and nothing else. Colour and progress appear only on a terminal; rich honours
NO_COLOR. Control characters from the network or from files are escaped in human output.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quantpick.sizes import format_decimal_size, format_size

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "Output",
    "OutputClosed",
    "clean",
    "format_decimal_size",
    "format_size",
    "json_requested",
    "markup_safe",
    "plain",
]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def json_requested(argv: list[str]) -> bool:
    """The one decision of JSON mode: `--json` among the options (before a `--`)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def quiet_requested(argv: list[str]) -> bool:
    """`--quiet` among the options (before a `--`): only data, warnings and errors are printed."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--quiet":
            return True
    return False


def clean(text: str) -> str:
    """Text from the network or a file, safe for a terminal: control characters shown as escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class OutputClosed(Exception):
    """stdout is gone (a closed pipe) or full: the run ends without a traceback."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.error = error

    @property
    def broken_pipe(self) -> bool:
        return self.error.errno == errno.EPIPE or isinstance(self.error, BrokenPipeError)


class Output:
    def __init__(self, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self._out: Console | None = None
        self._err: Console | None = None

    # rich is imported only when something is rendered for a person: JSON runs never load it.
    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            class DataConsole(Console):
                def on_broken_pipe(self) -> None:  # rich's own answer is SystemExit(1): ours is exit 141
                    self.quiet = True
                    raise OutputClosed(BrokenPipeError(errno.EPIPE, "Broken pipe"))

            self._out = DataConsole(file=sys.stdout, highlight=False, soft_wrap=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        return self._err

    @property
    def interactive(self) -> bool:
        """Progress bars only for a person watching a terminal."""
        return not self.json_mode and not self.quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"

    def json(self, document: Mapping[str, Any]) -> None:
        """The one JSON document of a --json run, on stdout."""
        self._write(json.dumps(document, indent=2) + "\n")

    def show(self, renderable: RenderableType) -> None:
        """Human data on stdout (tables, results)."""
        try:
            self.out.print(renderable)
        except OSError as exc:
            raise OutputClosed(exc) from None

    def line(self, text: str) -> None:
        """A plain line of data on stdout, with no markup or wrapping (paths, commands)."""
        self._write(clean(text) + "\n")

    def _write(self, text: str) -> None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:
            raise OutputClosed(exc) from None

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(clean(message), markup=False)

    def warning(self, message: str) -> None:
        self.err.print(f"[yellow]Warning:[/yellow] {markup_safe(message)}")

    def hint(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[dim]Hint: {markup_safe(message)}[/dim]")

    def error(self, code: str, message: str, hint: str | None = None, details: dict[str, Any] | None = None) -> None:
        """One line on stderr (and a hint); under --json also the error document on stdout."""
        from quantpick.documents import error_document

        message = _redact(message)
        hint = _redact(hint) if hint else hint
        sys.stderr.write(f"Error: {clean(message)}\n")
        if hint:
            sys.stderr.write(f"Hint: {clean(hint)}\n")
        sys.stderr.flush()
        if self.json_mode:
            with contextlib.suppress(OutputClosed):  # the error is on stderr already
                self.json(error_document(code, message, hint, details))


def silence_stdout() -> None:
    """After stdout failed: point it at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _redact(text: str) -> str:
    """Belt and braces: no error text ever carries the Hub token, whatever a library put in it."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = os.environ.get(name)
        if token and len(token) >= 8:
            text = text.replace(token, "<token>")
    return text


def markup_safe(text: str) -> str:
    """Text from the network or a file, for a string that also carries rich markup."""
    from rich.markup import escape

    return escape(clean(text))


def plain(text: str) -> Any:
    """A table cell from the network or a file: no markup interpretation, control characters escaped."""
    from rich.text import Text

    return Text(clean(text))
