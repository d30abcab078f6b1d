"""`quantpick catalog`: the quant types quantpick knows, with their figures and sources."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt, QuietOpt, output

EPILOG = """\b
Examples:
  quantpick catalog
  quantpick catalog --json | jq '.quants[] | select(.family=="i") | .name'
  QUANTPICK_CATALOG=my_catalog.yaml quantpick catalog
"""


def catalog_command(ctx: typer.Context, _json: JsonOpt = False, _quiet: QuietOpt = False) -> None:
    """List every quant type in the catalog: family, bits per weight, measured quality, backend notes."""
    from quantpick.documents import catalog_document
    from quantpick.service import load_catalog

    out = output(ctx)
    document = catalog_document(load_catalog())
    if out.json_mode:
        out.json(document)
        return
    from rich.table import Table

    table = Table(title=f"quant catalog ({document['catalog']})", title_justify="left")
    for column in ("quant", "family", "bpw", "eff. bpw", "KLD L3-8B", "notes"):
        table.add_column(column, justify="right" if "bpw" in column or "KLD" in column else "left")
    for q in sorted(document["quants"], key=lambda q: (-q["bpw"], q["name"])):
        kld = q["quality"].get("kld_llama3_8b_imatrix") or q["quality"].get("kld_llama3_8b")
        notes = q["description"] or (q["notes"][0]["text"] if q["notes"] else "")
        if not q["loadable"]:
            notes = "not loadable: " + notes
        table.add_row(
            q["name"],
            q["family"],
            f"{q['bpw']:g}",
            f"{q['effective_bpw']:.2f}" if q["effective_bpw"] else "-",
            f"{kld['value']:.4f}" if kld else "-",
            notes,
        )
    out.show(table)
    out.hint("KLD = mean KL-divergence vs FP16 on Llama-3-8B (llama.cpp perplexity README); lower is better")


def register(app: typer.Typer) -> None:
    app.command("catalog", epilog=EPILOG)(catalog_command)
