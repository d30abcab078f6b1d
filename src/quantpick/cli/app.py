"""Wiring: the typer app, one module per command, and the one place an outcome becomes an exit code."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from quantpick import __version__
from quantpick.cli import catalog_cmd, get_cmd, list_cmd, probe_cmd, recommend_cmd, schema_cmd, search_cmd
from quantpick.cli.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EXIT_USAGE, render
from quantpick.errors import QuantpickError

HELP = """Pick the right GGUF quant of a Hugging Face repo for your machine, explain why, download it.

\b
Examples:
  quantpick probe                           # what this machine has
  quantpick recommend                       # best quant per model size, offline
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF
  quantpick search qwen3 8b                 # GGUF repos by name
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF   # download it, print its path
  quantpick schema recommend                # the JSON Schema of `recommend --json`

Exit codes: 0 done, 1 unexpected error, 2 usage error, 3 nothing fits, 4 Hub error, 5 download failure,
130 interrupted.
"""


def _is_click_exception(exc: BaseException) -> bool:
    # typer vendors click (typer._click since 0.20) and exports only some of its exceptions; every click
    # exception has the documented ClickException interface: exit_code, format_message() and show().
    return all(hasattr(exc, name) for name in ("exit_code", "format_message", "show"))


class QuantpickGroup(TyperGroup):
    """The root command: every run, from the console script or a test runner, ends here with one exit code."""

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> None:
        from quantpick.cli.output import Output, OutputClosed, json_requested, quiet_requested, silence_stdout

        argv = list(sys.argv[1:] if args is None else args)
        out = Output(json_mode=json_requested(argv), quiet=quiet_requested(argv))
        debug = os.environ.get("QUANTPICK_DEBUG", "") not in ("", "0")
        extra.pop("obj", None)
        code: int
        try:
            result = super().main(
                args=argv, prog_name=prog_name or "quantpick", standalone_mode=False, obj=out, **extra
            )
            code = result if isinstance(result, int) else 0
        except QuantpickError as exc:
            if debug:
                import traceback

                traceback.print_exc()
            rendered = render(exc)
            out.error(rendered.code, rendered.message, rendered.hint, exc.details)
            code = rendered.exit_code
        except typer.Exit as exc:
            code = exc.exit_code
        except (KeyboardInterrupt, typer.Abort):
            out.error("interrupted", "interrupted")
            code = EXIT_INTERRUPTED
        except OutputClosed as exc:
            silence_stdout()
            if exc.broken_pipe:
                code = 141  # what a shell reports for a writer whose reader went away (128 + SIGPIPE)
            else:
                sys.stderr.write(f"Error: cannot write the output: {exc}\n")
                code = EXIT_UNEXPECTED
        except Exception as exc:
            if _is_click_exception(exc):
                code = self._usage_error(out, exc)
            elif debug:
                raise
            else:  # a bug: say so plainly, keep the traceback for QUANTPICK_DEBUG=1
                out.error(
                    "unexpected",
                    f"unexpected error: {type(exc).__name__}: {exc}",
                    "set QUANTPICK_DEBUG=1 for the traceback, and please report it",
                )
                code = EXIT_UNEXPECTED
        sys.exit(code)

    @staticmethod
    def _usage_error(out: Any, exc: Exception) -> int:
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else "quantpick"
        message = exc.format_message()  # type: ignore[attr-defined]
        out.error("usage", message, f"see `{command} --help`")
        exit_code = getattr(exc, "exit_code", EXIT_USAGE)
        return exit_code if isinstance(exit_code, int) and exit_code != 1 else EXIT_USAGE


app = typer.Typer(
    name="quantpick",
    cls=QuantpickGroup,
    help=HELP,
    invoke_without_command=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"quantpick {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    _quiet: bool = typer.Option(
        False, "--quiet", expose_value=False, help="Print only the data, warnings and errors (no progress, no hints)."
    ),
) -> None:
    if ctx.invoked_subcommand is None:  # bare `quantpick`: the help is the answer
        sys.stdout.write(ctx.get_help() + "\n")
        raise typer.Exit()


for module in (catalog_cmd, probe_cmd, search_cmd, list_cmd, recommend_cmd, get_cmd, schema_cmd):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """The console script: run the app; QuantpickGroup.main turns every outcome into an exit code."""
    app(args=argv, prog_name="quantpick")
