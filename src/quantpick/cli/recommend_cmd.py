"""`quantpick recommend [REPO]`: the model card's guidance applied to this machine, with every verdict explained."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from quantpick.cli.options import (
    REPO_HELP,
    JsonOpt,
    PlanFlags,
    QuantOpt,
    QuietOpt,
    RevisionOpt,
    output,
    repo_target,
    with_plan_flags,
)

if TYPE_CHECKING:
    from quantpick.cli.output import Output
    from quantpick.hardware import Hardware
    from quantpick.rules import Candidate
    from quantpick.service import RepoRecommendation, SizesPlan

EPILOG = """\b
Examples:
  quantpick recommend                                        # best quant per model size, offline
  quantpick recommend --params 12B --vram 12GiB
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF --ctx 32768 --mode quality
  quantpick recommend hf.co/bartowski/Qwen_Qwen3-8B-GGUF                     # a pasted link works too
  quantpick recommend unsloth/Qwen3-30B-A3B-GGUF --gpu "RTX 4090" --ram 64GiB  # plan for another machine
  quantpick recommend unsloth/Qwen3-30B-A3B-GGUF --hardware laptop.json --json
  quantpick recommend bartowski/Qwen_Qwen3-8B-GGUF --parallel 1 -ctk q8_0 -ctv q8_0   # one slot, q8_0 KV
"""

PLACEMENT_TEXT = {"gpu": "all on the GPU", "gpu+cpu": "split GPU + CPU", "cpu": "on the CPU"}


def hardware_summary(hw: Hardware) -> str:
    from quantpick.cli.output import format_size

    gpus = (
        ", ".join(
            f"{g.name} ({format_size(g.budget_bytes) if g.budget_bytes is not None else 'unified'})" for g in hw.gpus
        )
        or "no GPU"
    )
    return f"{gpus}; RAM {format_size(hw.ram.total_bytes)} ({hw.ram.source}); backend {hw.backend}"


def parse_params(text: str) -> float:
    from quantpick.errors import InvalidValue

    cleaned = text.strip().upper().removesuffix("B")
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidValue(
            "params", f"invalid model size {text[:40]!r}", hint="give billions of parameters, e.g. 12B"
        ) from None
    if not 0 < value <= 5000:
        raise InvalidValue("params", f"model size {text[:40]!r} is out of range", hint="give billions, e.g. 12B")
    return value


@with_plan_flags
def recommend_command(
    ctx: typer.Context,
    repo: str | None = typer.Argument(
        None, metavar="[REPO]", help=REPO_HELP + " Omit for a table of common model sizes.", show_default=False
    ),
    quant: QuantOpt = None,
    params: str | None = typer.Option(None, "--params", help="Without REPO: also plan for this model size, e.g. 12B."),
    chart: bool = typer.Option(
        False, "--chart", help="Draw the candidates: memory against the budgets, loss against tok/s."
    ),
    plan: PlanFlags = PlanFlags(),
    revision: RevisionOpt = None,
    _json: JsonOpt = False,
    _quiet: QuietOpt = False,
) -> None:
    """Recommend the quant to download for this machine (or the one in --hardware), and say why."""
    from quantpick import service

    out = output(ctx)
    target = repo_target(repo, revision, quant) if repo is not None else None
    if target is not None:
        quant = target.quant
    options = plan.options(quant)
    extra_size = parse_params(params) if params else None
    hw = plan.machine()
    for warning in hw.warnings:
        out.warning(warning)
    if target is None:
        sizes_plan = service.plan_sizes(hardware=hw, options=options, extra_sizes=(extra_size,) if extra_size else ())
        return render_plan(out, sizes_plan)
    if extra_size is not None:
        out.warning("--params is ignored with a REPO: the repo's real file sizes are used")
    result = service.recommend(
        target.repo,
        hardware=hw,
        options=options,
        revision=target.revision,
        file=target.file,
        discover_quantizations=not plan.repo_only,
    )
    if out.json_mode:
        from quantpick.documents import recommend_document

        out.json(recommend_document(result))
        return
    render_recommendation(out, result, chart=chart)


def render_chart(out: Output, result: RepoRecommendation) -> None:
    from quantpick.cli.chart import Point, memory_chart, tradeoff_chart
    from quantpick.cli.output import plain

    rec = result.recommendation
    points = [
        Point(
            c.label,
            c.memory.total_bytes if c.memory is not None else c.size_bytes,
            c.speed.generation_tokens_per_second if c.speed is not None else None,
            c.loss,
            c.fits,
            c is rec.pick,
        )
        for c in rec.candidates
        if c.eligible
    ]
    gpu = rec.budget.speed_bytes if rec.budget.has_gpu else None
    out.show("")
    for line in memory_chart(points, gpu, rec.budget.quality_bytes):
        out.show(plain(line))
    out.show("")
    for line in tradeoff_chart(points):
        out.show(plain(line))


def render_recommendation(out: Output, result: RepoRecommendation, *, chart: bool = False) -> None:
    from rich.table import Table

    from quantpick.cli.output import format_size, markup_safe, plain

    rec, view = result.recommendation, result.view
    pick = rec.pick
    if result.discovery is not None:
        found = result.discovery
        out.show(plain(f"{found.base} has no GGUF files; its GGUF quantizations on the Hub (most downloaded first):"))
        for hit in found.found[:8]:
            out.show(plain(f"  {hit.repo}  ({hit.downloads} downloads)"))
        for item in found.compared:
            speed = f", ~{item.tokens_per_second:.0f} tok/s" if item.tokens_per_second else ""
            out.show(plain(f"  compared {item.repo}: {item.quant or 'nothing'}{speed} ({item.note})"))
        out.show(plain(f"chose {found.chosen}: {found.why}"))
        out.show("")
    out.show(plain(f"{view.repo} @ {view.listing.revision[:12]}" + (" (saved listing)" if view.listing.cached else "")))
    out.show(plain(f"hardware: {hardware_summary(result.hardware)}"))
    for line in rec.budget.explanation:
        out.show(plain(f"  {line}"))
    reserve = rec.reserve
    if reserve.source == "estimate":
        out.show(
            plain(
                f"reserve: {format_size(reserve.total_bytes)} = KV cache {format_size(reserve.kv_cache_bytes)}"
                f" + compute {format_size(reserve.compute_bytes)} + output {format_size(reserve.output_bytes)}"
                f" + runtime {format_size(reserve.runtime_bytes)}  ({view.shape_status})"
            )
        )
        out.show(plain(f"  {reserve.detail}"))
    else:
        out.show(plain(f"reserve: {format_size(reserve.total_bytes)} ({reserve.detail})"))
    out.show("")
    out.show(
        f"[bold green]pick: {markup_safe(pick.label)}[/bold green]  {format_size(pick.size_bytes)}, "
        f"{PLACEMENT_TEXT[pick.placement or 'cpu']}"
    )
    for reason in pick.reasons:
        out.show(plain(f"  - {reason.text}"))
    if pick.memory is not None:
        memory = pick.memory
        where = ", ".join(f"{device} {format_size(size)}" for device, size in memory.devices)
        line = f"  memory: {format_size(memory.total_bytes)} ({where})"
        if memory.repack_bytes:
            line += f"; about {format_size(memory.repack_bytes)} of it repacked in RAM at load"
        out.show(plain(line))
    if pick.speed is not None:
        out.show(plain(f"  speed: ~{pick.speed.generation_tokens_per_second:.1f} tok/s, {pick.speed.bound_by}"))
        out.show(plain(f"    {pick.speed.basis}"))
    for note in rec.notes:
        out.show(plain(f"  note: {note.text}"))
    if rec.runners_up:
        out.show(plain("runners-up: " + ", ".join(f"{c.label} ({format_size(c.size_bytes)})" for c in rec.runners_up)))
    table = Table(box=None, pad_edge=False, title="every quant", title_justify="left")
    for column in ("quant", "size", "verdict", "tok/s", "KLD", "why"):
        table.add_column(column, justify="right" if column in ("size", "tok/s", "KLD") else "left")
    for cand in sorted(rec.candidates, key=lambda c: -c.size_bytes):
        style = "bold green" if cand is pick else ("dim" if not cand.eligible or not cand.fits else "")
        why = "; ".join(r.text for r in cand.reasons[-2:])
        speed = f"~{cand.speed.generation_tokens_per_second:.0f}" if cand.speed is not None else ""
        loss = f"{cand.loss:.3g}" if cand.loss is not None else ""
        row = (plain(cand.label), format_size(cand.size_bytes), cand.verdict, speed, loss, plain(why))
        table.add_row(*row, style=style)
    out.show(table)
    out.show("")
    from quantpick.documents import cluster_doc

    cluster = cluster_doc(result)
    if cluster is not None:
        out.show(plain("several machines (llama.cpp RPC):"))
        for device in cluster["devices"]:
            size = format_size(device["bytes"])
            out.show(plain(f"  {device['device']} ({device['host']}): {size}, {device['layers']} layers"))
        network = cluster["network"]
        limit = ": the network is the limit" if network["limits_speed"] else ""
        out.show(
            plain(
                f"  network {network['gbit_per_second']:g} Gbit/s, {network['latency_ms']:g} ms:"
                f" {network['seconds_per_token'] * 1e3:.2f} ms per token{limit}"
            )
        )
        out.show(plain("  on each worker:"))
        for line in cluster["worker_commands"]:
            out.show(plain(f"    {line}"))
        out.warning(cluster["warning"])
        out.show(plain("  on the head:"))
    if chart:
        render_chart(out, result)
        out.show("")
    out.line(result.command)


def render_plan(out: Output, plan: SizesPlan) -> None:
    if out.json_mode:
        from quantpick.documents import plan_document

        out.json(plan_document(plan))
        return
    from rich.table import Table

    from quantpick.cli.output import format_size, plain

    budget = plan.budget
    out.show(plain(f"hardware: {hardware_summary(plan.hardware)}"))
    for line in budget.explanation:
        out.show(plain(f"  {line}"))
    table = Table(
        title=f"best quant per model size (context {plan.plans[0].reserve.ctx}, sizes estimated from bpw)",
        title_justify="left",
    )
    table.add_column("model")
    table.add_column("pick (auto)")
    if budget.has_gpu:
        table.add_column("all on GPU")
    table.add_column("best quality (GPU + RAM)" if budget.has_gpu else "best quality that fits")

    def cell(cand: Candidate | None) -> str:
        if cand is None:
            return "[dim]nothing fits[/dim]"
        layers = ""
        if cand.cpu_moe_layers:
            layers = f", --n-cpu-moe {cand.cpu_moe_layers}"
        elif cand.placement == "gpu+cpu" and cand.gpu_layers is not None:
            layers = f", -ngl {cand.gpu_layers}"
        speed = f", ~{cand.speed.generation_tokens_per_second:.0f} tok/s" if cand.speed is not None else ""
        return f"{cand.label} (~{format_size(cand.size_bytes)}{layers}{speed})"

    for size in plan.plans:
        row = [size.label or f"{size.params_billions:g}B", cell(size.pick)]
        if budget.has_gpu:
            row.append(cell(size.speed))
        row.append(cell(size.quality))
        table.add_row(*row)
    out.show(table)
    if plan.best is not None and plan.best.pick is not None:
        out.show(
            plain(
                f"best for this machine: a {plan.best.label} model at {plan.best.pick.label}, the largest whose pick"
                f" reaches {plan.options.min_speed:g} tok/s"
            )
        )
    else:
        out.show(plain(f"no model size reaches {plan.options.min_speed:g} tok/s here"))
    out.hint("for a real repo's files: quantpick recommend OWNER/NAME-GGUF")


def register(app: typer.Typer) -> None:
    app.command("recommend", epilog=EPILOG)(recommend_command)
