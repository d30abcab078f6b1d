"""`quantpick probe`: what this machine has, and where each figure came from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from quantpick.cli.options import JsonOpt, QuietOpt, output

if TYPE_CHECKING:
    from quantpick.cli.output import Output
    from quantpick.hardware import Hardware

EPILOG = """\b
Examples:
  quantpick probe
  quantpick probe --json > hw.json            # then: quantpick recommend REPO --hardware hw.json
  quantpick probe --measure --json > hw.json  # with RAM bandwidth and CPU cache measured (~3 s)
  CUDA_VISIBLE_DEVICES=1 quantpick probe      # only the GPUs llama.cpp will see
"""


def render_hardware(out: Output, hw: Hardware) -> None:
    from rich.table import Table

    from quantpick.cli.output import format_size, plain

    ram = hw.ram
    out.show(
        f"RAM      {format_size(ram.total_bytes)} total, {format_size(ram.available_bytes)} available"
        f"  [dim]({ram.source})[/dim]"
    )
    if hw.gpus:
        table = Table(box=None, pad_edge=False)
        for column in ("GPU", "total", "free", "budget", "source"):
            table.add_column(column)
        for gpu in hw.gpus:
            table.add_row(
                plain(gpu.name),
                format_size(gpu.total_bytes),
                format_size(gpu.free_bytes),
                format_size(gpu.budget_bytes) if gpu.budget_bytes is not None else "system RAM",
                plain(gpu.source),
            )
        out.show(table)
    else:
        out.show("GPU      none")
    cpu = hw.cpu
    flags = ", ".join(name for name, on in cpu.flags.items() if on) or "none of interest"
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    out.show(plain(f"CPU      {cpu.model or 'unknown'} ({cores}); flags: {flags}"))
    if cpu.cache_bytes:
        out.show(f"cache    {format_size(cpu.cache_bytes)}  [dim]({plain(cpu.cache_source or 'probe')})[/dim]")
    if ram.bandwidth_gbps:
        out.show(f"memory   {ram.bandwidth_gbps:g} GB/s  [dim]({plain(ram.bandwidth_source or 'file')})[/dim]")
    out.show(f"backend  {hw.backend}  [dim]({hw.backend_source})[/dim]")


MeasureOpt = Annotated[
    bool,
    typer.Option(
        "--measure",
        help="Also measure RAM read bandwidth and the CPU cache that stays fast (a few seconds, all cores busy);"
        " recommend uses both from a saved file.",
    ),
]


def probe_command(
    ctx: typer.Context, measure: MeasureOpt = False, _json: JsonOpt = False, _quiet: QuietOpt = False
) -> None:
    """Show RAM (container-aware), GPU memory and CPU features, with the source of every figure."""
    from quantpick import service
    from quantpick.documents import probe_document

    out = output(ctx)
    hw = service.probe()
    if measure:
        out.info("Measuring memory speed (a few seconds)...")
        hw = service.measure_memory(hw)
    if out.json_mode:
        out.json(probe_document(hw))
    else:
        render_hardware(out, hw)
    for warning in hw.warnings:
        out.warning(warning)


def register(app: typer.Typer) -> None:
    app.command("probe", epilog=EPILOG)(probe_command)
