"""`quantpick list REPO`: the repo's GGUF quants as a person reading the model card sees them."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt, RepoArg, RevisionOpt

EPILOG = """\b
Examples:
  quantpick list bartowski/Qwen_Qwen3-8B-GGUF
  quantpick list unsloth/gemma-3-27b-it-GGUF --revision main --json
  HF_HUB_OFFLINE=1 quantpick list bartowski/Qwen_Qwen3-8B-GGUF   # the listing saved last time
"""


def group_to_dict(group, catalog) -> dict:
    quant = group.quant
    rank = catalog.rank_figure(quant) if quant else None
    return {
        "quant": group.label,
        "known": quant is not None,
        "family": quant.family if quant else None,
        "bpw": quant.bpw_nominal if quant else None,
        "variant_of": quant.base if quant else None,
        "loadable": quant.loadable if quant else None,
        "size_bytes": group.size_bytes,
        "files": [{"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256} for f in group.files],
        "shards": group.shard_total,
        "complete": group.complete,
        "split": group.split_style,
        "needs_concatenation": group.split_style == "concat",
        "imatrix": group.imatrix_marker,
        "quality_loss": rank.loss if rank else None,
        "quality_source": f"{rank.scale} ({rank.source})" if rank else None,
    }


def load_repo(repo: str, revision: str | None, *, with_shape: bool = True):
    """Listing, parsed quants and model shape: the two requests every repo command starts with."""
    from quantpick.catalog import load_catalog
    from quantpick.errors import HubError
    from quantpick.hub import fetch_listing, read_shape
    from quantpick.naming import parse_repo_files

    catalog = load_catalog()
    listing = fetch_listing(repo, revision)
    parsed = parse_repo_files(listing.files, catalog)
    if not parsed.quants:
        raise HubError(
            f"{repo} has no GGUF model files",
            code="no_gguf",
            hint=f"is it the original safetensors repo? look for a GGUF version (e.g. {repo}-GGUF)",
        )
    shape, shape_status = None, "not read"
    if with_shape:
        header_group = _header_group(parsed)
        if header_group is not None:
            shape, shape_status = read_shape(listing, header_group.first_file.path)
    return catalog, listing, parsed, shape, shape_status


def _header_group(parsed):
    # The smallest complete known quant; any quant of the repo has the same shape.
    usable = [g for g in parsed.quants if g.complete and g.known] or [g for g in parsed.quants if g.complete]
    return min(usable, key=lambda g: g.size_bytes) if usable else None


def list_command(repo: RepoArg, revision: RevisionOpt = None, json_output: JsonOpt = False) -> None:
    """List a Hub repo's GGUF quants (shards summed), its other files, and the model's shape."""
    from quantpick.cli.output import Output
    from quantpick.sizes import format_size

    out = Output(json_output)
    catalog, listing, parsed, shape, shape_status = load_repo(repo, revision)
    quants = [group_to_dict(g, catalog) for g in parsed.quants]
    others = [{"path": o.path, "kind": o.kind, "size_bytes": o.size_bytes} for o in parsed.other_files]
    if json_output:
        out.json(
            {
                "repo": repo,
                "revision": listing.revision,
                "cached": listing.cached,
                "gated": listing.gated,
                "quants": quants,
                "other_files": others,
                "model": shape.to_dict() if shape else None,
                "model_source": shape_status,
            }
        )
        return
    from rich.table import Table

    title = f"{repo} @ {listing.revision[:12]}" + (" (saved listing, offline)" if listing.cached else "")
    table = Table(title=title, title_justify="left")
    for column in ("quant", "size", "files", "family", "bpw", "note"):
        table.add_column(column, justify="right" if column in ("size", "files", "bpw") else "left")
    for group, row in zip(parsed.quants, quants, strict=True):
        note = []
        if not row["known"]:
            note.append("unknown type")
        elif not row["loadable"]:
            note.append("removed from llama.cpp")
        if row["variant_of"]:
            note.append(f"variant of {row['variant_of']}")
        if not row["complete"]:
            note.append(f"incomplete: {len(row['files'])}/{row['shards']} files")
        if row["needs_concatenation"]:
            note.append("parts: concatenate after download")
        if row["quality_loss"] is not None and row["known"]:
            note.append(f"KLD {row['quality_loss']:.4f}")
        table.add_row(
            group.label,
            format_size(group.size_bytes),
            str(len(group.files)),
            row["family"] or "?",
            f"{row['bpw']:g}" if row["bpw"] else "?",
            "; ".join(note),
        )
    out.show(table)
    if others:
        other_table = Table(title="other files", title_justify="left", box=None)
        for column in ("path", "kind", "size"):
            other_table.add_column(column)
        for other in parsed.other_files:
            other_table.add_row(other.path, other.kind, format_size(other.size_bytes))
        out.show(other_table)
    if shape:
        moe = f", MoE {shape.expert_count} experts ({shape.expert_used_count} active)" if shape.is_moe else ""
        out.show(
            f"model: {shape.architecture}, {shape.block_count} layers, context {shape.context_length}{moe}"
            f"  [dim]({shape_status})[/dim]"
        )
    else:
        out.hint(f"model shape unknown ({shape_status}): recommend will keep a 2 GiB reserve")
    if listing.gated:
        out.hint("gated repo: listing works, downloading needs approved access (`hf auth login` or HF_TOKEN)")


def register(app: typer.Typer) -> None:
    app.command("list", epilog=EPILOG)(list_command)
