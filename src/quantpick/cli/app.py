"""Wiring: the typer app, one module per command, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from quantpick import __version__
from quantpick.cli import catalog_cmd, get_cmd, list_cmd, probe_cmd, recommend_cmd
from quantpick.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EXIT_USAGE, QuantpickError

HELP = """Pick the right GGUF quant of a Hugging Face repo for your machine, explain why, download it.

Examples:

  quantpick probe                                  # what this machine has

  quantpick recommend                              # best quant per model size, offline

  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF # the file to take from this repo

  quantpick get bartowski/Qwen_Qwen3-8B-GGUF       # download it, print its path
"""

app = typer.Typer(
    name="quantpick",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    """Run the CLI and turn every failure into one line, an exit code and (under --json) an error object."""
    from quantpick.cli.output import Output

    # typer >= 0.20 vendors click as typer._click; find its exceptions module either way.
    click_exceptions = sys.modules[typer.BadParameter.__module__]

    argv = list(sys.argv[1:] if argv is None else argv)
    out = Output(json_mode="--json" in argv)
    debug = os.environ.get("QUANTPICK_DEBUG", "") not in ("", "0")
    try:
        result = app(args=argv, prog_name="quantpick", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except QuantpickError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        out.error(exc.code, exc.message, exc.hint, exc.details)
        code = exc.exit_code
    except click_exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "quantpick"
        out.error("usage", exc.format_message(), f"see `{command} --help`")
        code = EXIT_USAGE
    except click_exceptions.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, click_exceptions.Abort):
        out.error("interrupted", "interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so plainly, keep the traceback for QUANTPICK_DEBUG=1
        if debug:
            raise
        out.error("unexpected", f"unexpected error: {type(exc).__name__}: {exc}",
                  "set QUANTPICK_DEBUG=1 for the traceback, and please report it")  # fmt: skip
        code = EXIT_UNEXPECTED
    sys.exit(code)
