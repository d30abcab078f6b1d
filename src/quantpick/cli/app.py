"""Wiring: the typer app, one module per command, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from quantpick import __version__
from quantpick.cli import catalog_cmd, get_cmd, list_cmd, probe_cmd, recommend_cmd
from quantpick.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EXIT_USAGE, QuantpickError

HELP = """Pick the right GGUF quant of a Hugging Face repo for your machine, explain why, download it.

\b
Examples:
  quantpick probe                           # what this machine has
  quantpick recommend                       # best quant per model size, offline
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF   # download it, print its path

Exit codes: 0 done, 1 unexpected error, 2 usage error, 3 nothing fits, 4 Hub error, 5 download failure.
"""


def _exit_types(module) -> tuple[type, ...]:
    # typer.Exit is click's Exit in older typer and its own class since typer vendored click
    return tuple({typer.Exit, getattr(module, "Exit", typer.Exit)})


def _abort_types(module) -> tuple[type, ...]:
    return tuple({typer.Abort, getattr(module, "Abort", typer.Abort)})


class QuantpickGroup(TyperGroup):
    """The root command: every run, from the console script or a test runner, ends here with one exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from quantpick.cli.output import Output

        # typer >= 0.20 vendors click as typer._click; find its exceptions module either way.
        click_exceptions = sys.modules[typer.BadParameter.__module__]
        argv = list(sys.argv[1:] if args is None else args)
        out = Output(json_mode="--json" in argv)
        debug = os.environ.get("QUANTPICK_DEBUG", "") not in ("", "0")
        try:
            result = super().main(args=argv, prog_name=prog_name or "quantpick", standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except QuantpickError as exc:
            if debug:
                import traceback

                traceback.print_exc()
            out.error(exc.code, exc.message, exc.hint, exc.details)
            code = exc.exit_code
        except click_exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `quantpick`: the help is the answer
                sys.stdout.write(exc.ctx.get_help() + "\n")
                sys.exit(0)
            command = exc.ctx.command_path if exc.ctx else "quantpick"
            out.error("usage", exc.format_message(), f"see `{command} --help`")
            code = EXIT_USAGE
        except _exit_types(click_exceptions) as exc:
            code = exc.exit_code
        except (KeyboardInterrupt, *_abort_types(click_exceptions)):
            out.error("interrupted", "interrupted")
            code = EXIT_INTERRUPTED
        except Exception as exc:  # a bug: say so plainly, keep the traceback for QUANTPICK_DEBUG=1
            if debug:
                raise
            out.error(
                "unexpected",
                f"unexpected error: {type(exc).__name__}: {exc}",
                "set QUANTPICK_DEBUG=1 for the traceback, and please report it",
            )
            code = EXIT_UNEXPECTED
        sys.exit(code)


app = typer.Typer(
    name="quantpick",
    cls=QuantpickGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
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
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    pass


for module in (catalog_cmd, probe_cmd, list_cmd, recommend_cmd, get_cmd):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """The console script: run the app; QuantpickGroup.main turns every outcome into an exit code."""
    app(args=argv, prog_name="quantpick")
