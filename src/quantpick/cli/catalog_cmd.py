"""`quantpick catalog`: the quant types quantpick knows, with their figures and sources."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt

EPILOG = """\b
Examples:
  quantpick catalog
  quantpick catalog --json | jq '.quants[] | select(.family=="i") | .name'
  QUANTPICK_CATALOG=my_catalog.yaml quantpick catalog
"""


def quant_to_dict(catalog, quant) -> dict:
    rank = catalog.rank_figure(quant)
    return {
        "name": quant.name,
        "family": quant.family,
        "bpw": quant.bpw_nominal,
        "effective_bpw": quant.bpw_effective,
        "bpw_source": quant.bpw_source,
        "aliases": list(quant.aliases),
        "variant_of": quant.base,
        "description": quant.description,
        "loadable": quant.loadable,
        "auto_pick": quant.loadable and not quant.is_float,
        "quality": {k: {"value": f.value, "source": f.source, "note": f.note} for k, f in quant.quality.items()},
        "rank": {"loss": rank.loss, "scale": rank.scale, "source": rank.source, "estimated": rank.estimated},
        "cpu_repack": list(quant.cpu_repack),
        "gpu_missing": list(quant.gpu_missing),
        "notes": [{"text": n.text, "source": n.source} for n in quant.notes],
    }


def catalog_command(json_output: JsonOpt = False) -> None:
    """List every quant type in the catalog: family, bits per weight, measured quality, backend notes."""
    from quantpick.catalog import load_catalog
    from quantpick.cli.output import Output

    out = Output(json_output)
    catalog = load_catalog()
    quants = [quant_to_dict(catalog, q) for q in catalog.types.values()]
    if json_output:
        out.json(
            {"catalog": catalog.path, "quants": quants, "sources": catalog.sources, "quality_scales": catalog.scales}
        )
        return
    from rich.table import Table

    table = Table(title=f"quant catalog ({catalog.path})", title_justify="left")
    for column in ("quant", "family", "bpw", "eff. bpw", "KLD L3-8B", "notes"):
        table.add_column(column, justify="right" if "bpw" in column or "KLD" in column else "left")
    for q in sorted(quants, key=lambda q: (-q["bpw"], q["name"])):
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
