"""`quantpick recommend [REPO]`: the model card's guidance applied to this machine, with every verdict explained."""

from __future__ import annotations

import typer

from quantpick.cli.options import (
    BackendOpt,
    CtxOpt,
    HardwareOpt,
    JsonOpt,
    ModeOpt,
    PreferOpt,
    QuantOpt,
    RamOpt,
    ReserveOpt,
    RevisionOpt,
    VramOpt,
)

EPILOG = """\b
Examples:
  quantpick recommend                                        # best quant per model size, offline
  quantpick recommend --params 12B --vram 12GiB
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF --ctx 32768 --mode quality
  quantpick recommend unsloth/Qwen3-30B-A3B-GGUF --hardware laptop.json --json
"""


def hardware_summary(hw) -> str:
    from quantpick.sizes import format_size

    gpus = (
        ", ".join(
            f"{g.name} ({format_size(g.budget_bytes) if g.budget_bytes is not None else 'unified'})" for g in hw.gpus
        )
        or "no GPU"
    )
    return f"{gpus}; RAM {format_size(hw.ram.total_bytes)} ({hw.ram.source}); backend {hw.backend}"


def llama_command(repo: str, pick, ctx: int, model_path: str | None = None) -> str:
    target = f'-m "{model_path}"' if model_path else f"-hf {repo}:{pick.label}"
    parts = ["llama-server", target, f"-c {ctx}"]
    if pick.gpu_layers is not None:
        parts.append(f"-ngl {pick.gpu_layers}")
    elif pick.placement == "gpu+cpu":
        parts.append("--fit on")
    return " ".join(parts)


def parse_params(text: str) -> float:
    from quantpick.errors import UsageError

    cleaned = text.strip().upper().removesuffix("B")
    try:
        value = float(cleaned)
    except ValueError:
        raise UsageError(f"invalid --params {text!r}", hint="give billions of parameters, e.g. 12B or 0.5B") from None
    if not 0 < value <= 5000:
        raise UsageError(f"--params {text!r} is out of range", hint="give billions of parameters, e.g. 12B")
    return value


def recommend_command(
    repo: str | None = typer.Argument(
        None, help="Hub repo id; omit for a table of common model sizes.", show_default=False
    ),
    mode: ModeOpt = "auto",
    ctx: CtxOpt = 8192,
    reserve: ReserveOpt = None,
    prefer: PreferOpt = "auto",
    quant: QuantOpt = None,
    params: str | None = typer.Option(None, "--params", help="Without REPO: also plan for this model size, e.g. 12B."),
    vram: VramOpt = None,
    ram: RamOpt = None,
    backend: BackendOpt = None,
    hardware: HardwareOpt = None,
    revision: RevisionOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Recommend the quant to download for this machine (or the one in --hardware), and say why."""
    from quantpick.cli.common import optional_size, resolve_hardware
    from quantpick.cli.output import Output
    from quantpick.rules import Options

    out = Output(json_output)
    options = Options(mode=mode, ctx=ctx, reserve_bytes=optional_size(reserve), prefer=prefer, quant=quant)
    extra_size = parse_params(params) if params else None
    hw = resolve_hardware(hardware, vram, ram, backend)
    for warning in hw.warnings:
        out.warning(warning)
    if repo is None:
        return _without_repo(out, hw, options, extra_size)
    if extra_size is not None:
        out.warning("--params is ignored with a REPO: the repo's real file sizes are used")
    from quantpick.cli.list_cmd import load_repo
    from quantpick.rules import recommend

    catalog, listing, parsed, shape, shape_status = load_repo(repo, revision)
    result = recommend(hw, parsed, shape, catalog, options, repo=repo)
    if json_output:
        out.json(recommendation_payload(repo, listing, hw, result, shape, shape_status, options))
        return
    render_recommendation(out, repo, listing, hw, result, shape, shape_status, options)


def recommendation_payload(repo, listing, hw, result, shape, shape_status, options) -> dict:
    pick = result.pick.to_dict() if result.pick else None
    if pick is not None:
        pick["command"] = llama_command(repo, result.pick, options.ctx)
        pick["mode"] = result.mode
    return {
        "repo": repo,
        "revision": listing.revision,
        "hardware": hw.to_dict(),
        "budget": result.budget.to_dict(),
        "reserve": result.reserve.to_dict(),
        "model": shape.to_dict() if shape else None,
        "model_source": shape_status,
        "mode": result.mode,
        "pick": pick,
        "runners_up": [c.label for c in result.runners_up],
        "candidates": [c.to_dict() for c in result.candidates],
        "notes": result.notes,
    }


def render_recommendation(out, repo, listing, hw, result, shape, shape_status, options) -> None:
    from rich.table import Table

    from quantpick.sizes import format_size

    pick = result.pick
    out.show(f"[bold]{repo}[/bold] @ {listing.revision[:12]}" + (" (saved listing)" if listing.cached else ""))
    out.show(f"hardware: {hardware_summary(hw)}")
    for line in result.budget.explanation:
        out.show(f"  {line}")
    reserve = result.reserve
    if reserve.source == "estimate":
        out.show(
            f"reserve: {format_size(reserve.total_bytes)} = KV cache {format_size(reserve.kv_cache_bytes)} "
            f"({options.ctx} tokens, f16) + overhead {format_size(reserve.overhead_bytes)}  [dim]({shape_status})[/dim]"
        )
    else:
        out.show(f"reserve: {format_size(reserve.total_bytes)} ({reserve.detail})")
    out.show("")
    out.show(
        f"[bold green]pick: {pick.label}[/bold green]  {format_size(pick.size_bytes)}, "
        f"{ {'gpu': 'all on the GPU', 'gpu+cpu': 'split GPU + CPU', 'cpu': 'on the CPU'}[pick.placement] }"
    )
    for reason in pick.reasons:
        out.show(f"  - {reason}")
    for note in result.notes:
        out.show(f"  [yellow]note:[/yellow] {note}")
    if result.runners_up:
        out.show("runners-up: " + ", ".join(f"{c.label} ({format_size(c.size_bytes)})" for c in result.runners_up))
    table = Table(box=None, pad_edge=False, title="every quant", title_justify="left")
    for column in ("quant", "size", "verdict", "why"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for cand in sorted(result.candidates, key=lambda c: -c.size_bytes):
        style = "bold green" if cand is pick else ("dim" if not cand.eligible or not cand.fits else "")
        table.add_row(cand.label, format_size(cand.size_bytes), cand.verdict, "; ".join(cand.reasons[-2:]), style=style)
    out.show(table)
    out.show("")
    out.line(llama_command(repo, pick, options.ctx))


def _without_repo(out, hw, options, extra_size) -> None:
    from quantpick.catalog import load_catalog
    from quantpick.rules import COMMON_SIZES, plan_without_repo
    from quantpick.sizes import format_size

    sizes = tuple(sorted(set(COMMON_SIZES) | ({extra_size} if extra_size else set())))
    budget, plans = plan_without_repo(hw, load_catalog(), options, sizes)
    if out.json_mode:
        out.json(
            {
                "hardware": hw.to_dict(),
                "budget": budget.to_dict(),
                "ctx": options.ctx,
                "sizes": [p.to_dict() for p in plans],
                "note": "sizes estimated from the catalog's effective bpw; pass a REPO for real file sizes",
            }
        )
        return
    from rich.table import Table

    out.show(f"hardware: {hardware_summary(hw)}")
    for line in budget.explanation:
        out.show(f"  {line}")
    table = Table(
        title=f"best quant per model size (context {options.ctx}, sizes estimated from bpw)", title_justify="left"
    )
    table.add_column("model")
    if budget.has_gpu:
        table.add_column("speed (all on GPU)")
    table.add_column("quality (GPU + RAM)" if budget.has_gpu else "fits RAM")

    def cell(cand):
        if cand is None:
            return "[dim]nothing fits[/dim]"
        layers = f", -ngl {cand.gpu_layers}" if cand.placement == "gpu+cpu" and cand.gpu_layers is not None else ""
        return f"{cand.label} (~{format_size(cand.size_bytes)}{layers})"

    for plan in plans:
        row = [f"{plan.params_billions:g}B"]
        if budget.has_gpu:
            row.append(cell(plan.speed))
        row.append(cell(plan.quality))
        table.add_row(*row)
    out.show(table)
    out.hint("for a real repo's files: quantpick recommend OWNER/NAME-GGUF")


def register(app: typer.Typer) -> None:
    app.command("recommend", epilog=EPILOG)(recommend_command)
