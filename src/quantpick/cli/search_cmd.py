"""`quantpick search TEXT`: GGUF repos on the Hub matching free text, with sizes and a fit verdict."""

from __future__ import annotations

import typer

from quantpick.cli.options import HardwareOpt, JsonOpt, QuietOpt, RamOpt, VramOpt, machine, output

EPILOG = """\b
Examples:
  quantpick search qwen3 8b
  quantpick search "gemma 3 27b" --json | jq -r '.repos[].repo'
  HF_HUB_OFFLINE=1 quantpick search qwen3 8b     # the results saved last time
"""


def search_command(
    ctx: typer.Context,
    words: list[str] = typer.Argument(..., metavar="TEXT...", help="Words to look for in repo names."),
    limit: int = typer.Option(20, "--limit", min=1, max=100, help="How many repos, most downloaded first."),
    vram: VramOpt = None,
    ram: RamOpt = None,
    hardware: HardwareOpt = None,
    _json: JsonOpt = False,
    _quiet: QuietOpt = False,
) -> None:
    """Find GGUF repos by name (one Hub request), with the model's size and whether Q4_K_M fits here."""
    from quantpick import service
    from quantpick.cli.output import format_size, plain
    from quantpick.documents import search_document

    out = output(ctx)
    hw = machine(hardware, vram, ram, None)
    result = service.search(" ".join(words), hardware=hw, limit=limit)
    document = search_document(result)
    if out.json_mode:
        out.json(document)
        return
    from rich.table import Table

    title = f"GGUF repos matching {result.text!r}" + (" (saved results, offline)" if result.cached else "")
    table = Table(title=plain(title), title_justify="left")
    for column in ("repo", "uploader", "downloads", "parameters", "Q4_K_M (est.)", "here"):
        table.add_column(column, justify="right" if column in ("downloads", "parameters", "Q4_K_M (est.)") else "left")
    for row in document["repos"]:
        params = f"{row['parameters'] / 1e9:.1f}B" if row["parameters"] else "?"
        size = format_size(row["est_q4_k_m_bytes"]) if row["est_q4_k_m_bytes"] else "?"
        table.add_row(
            plain(row["repo"]), plain(row["author"]), str(row["downloads"]), params, size, row["verdict"] or "?"
        )
    out.show(table)
    if not document["repos"]:
        out.hint("nothing matched: try fewer or other words")
    else:
        out.hint(f"for its real files and a pick: quantpick recommend {document['repos'][0]['repo']}")


def register(app: typer.Typer) -> None:
    app.command("search", epilog=EPILOG)(search_command)
