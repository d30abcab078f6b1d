"""`quantpick schema COMMAND`: the JSON Schema of what COMMAND prints under --json."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt, QuietOpt, output

EPILOG = """\b
Examples:
  quantpick schema recommend                 # recommend REPO --json
  quantpick schema plan                      # recommend --json without a repo
  quantpick schema error > error.schema.json
"""

NAMES = ("probe", "list", "recommend", "plan", "get", "catalog", "search", "error")


def schema_command(
    ctx: typer.Context,
    command: str = typer.Argument(..., metavar="COMMAND", help=f"One of: {', '.join(NAMES)}.", show_default=False),
    _json: JsonOpt = False,
    _quiet: QuietOpt = False,
) -> None:
    """Print the JSON Schema (draft 2020-12) of a command's --json document; the schema is JSON either way."""
    from quantpick.documents import json_schema
    from quantpick.errors import InvalidValue

    out = output(ctx)
    if command not in NAMES:
        raise InvalidValue(None, f"no schema for {command[:40]!r}", hint=f"use one of: {', '.join(NAMES)}")
    out.json(json_schema(command))  # a JSON document, with or without --json


def register(app: typer.Typer) -> None:
    app.command("schema", epilog=EPILOG)(schema_command)
