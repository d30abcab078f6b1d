"""`quantpick list REPO`: the repo's GGUF quants as a person reading the model card sees them."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt, QuietOpt, RepoArg, RevisionOpt, output, repo_target

EPILOG = """\b
Examples:
  quantpick list bartowski/Qwen_Qwen3-8B-GGUF
  quantpick list https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF
  quantpick list unsloth/gemma-3-27b-it-GGUF --revision main --json
  HF_HUB_OFFLINE=1 quantpick list bartowski/Qwen_Qwen3-8B-GGUF   # the listing saved last time
"""


def list_command(
    ctx: typer.Context, repo: RepoArg, revision: RevisionOpt = None, _json: JsonOpt = False, _quiet: QuietOpt = False
) -> None:
    """List a Hub repo's GGUF quants (shards summed), its other files, and the model's shape.

    Sizes are in GB (10^9 bytes), as model cards show them; memory elsewhere is in GiB (2^30 bytes).
    Effective bpw is the file's size over the parameter count read from the header.
    """
    from quantpick import service
    from quantpick.cli.output import format_decimal_size, format_size, plain
    from quantpick.documents import list_document

    out = output(ctx)
    target = repo_target(repo, revision)
    repo = target.repo
    view = service.load_repo(repo, target.revision)
    document = list_document(view)
    if out.json_mode:
        out.json(document)
        return
    from rich.table import Table

    listing = view.listing
    title = f"{repo} @ {listing.revision[:12]}" + (" (saved listing, offline)" if listing.cached else "")
    table = Table(title=title, title_justify="left")
    for column in ("quant", "size", "files", "family", "bpw", "effective bpw", "note"):
        table.add_column(column, justify="right" if column in ("size", "files", "bpw", "effective bpw") else "left")
    for row in document["quants"]:
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
            plain(row["quant"]),
            format_decimal_size(row["size_bytes"]),  # decimal, as model cards show file sizes
            str(len(row["files"])),
            row["family"] or "?",
            f"{row['bpw']:g}" if row["bpw"] else "?",
            f"{row['effective_bpw']:.2f}" if row["effective_bpw"] else "?",
            "; ".join(note),
        )
    out.show(table)
    if document["other_files"]:
        other_table = Table(title="other files", title_justify="left", box=None)
        for column in ("path", "kind", "size"):
            other_table.add_column(column)
        for other in document["other_files"]:
            other_table.add_row(plain(other["path"]), other["kind"], format_size(other["size_bytes"]))
        out.show(other_table)
    shape = view.shape
    if shape:
        moe = f", MoE {shape.expert_count} experts ({shape.expert_used_count} active)" if shape.is_moe else ""
        out.show(
            plain(
                f"model: {shape.architecture}, {shape.block_count} layers, context {shape.context_length}{moe}"
                f"  ({view.shape_status})"
            )
        )
    else:
        out.hint(f"model shape unknown ({view.shape_status}): recommend will keep a 2 GiB reserve")
    if listing.gated:
        out.hint("gated repo: listing works, downloading needs approved access (`hf auth login` or HF_TOKEN)")


def register(app: typer.Typer) -> None:
    app.command("list", epilog=EPILOG)(list_command)
