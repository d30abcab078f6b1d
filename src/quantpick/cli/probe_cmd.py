"""`quantpick probe`: what this machine has, and where each figure came from."""

from __future__ import annotations

import typer

from quantpick.cli.options import JsonOpt

EPILOG = """\b
Examples:
  quantpick probe
  quantpick probe --json > hw.json            # then: quantpick recommend REPO --hardware hw.json
  CUDA_VISIBLE_DEVICES=1 quantpick probe      # only the GPUs llama.cpp will see
"""


def render_hardware(out, hw) -> None:
    from rich.table import Table

    from quantpick.sizes import format_size

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
                gpu.name,
                format_size(gpu.total_bytes),
                format_size(gpu.free_bytes),
                format_size(gpu.budget_bytes) if gpu.budget_bytes is not None else "system RAM",
                gpu.source,
            )
        out.show(table)
    else:
        out.show("GPU      none")
    cpu = hw.cpu
    flags = ", ".join(name for name, on in cpu.flags.items() if on) or "none of interest"
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    out.show(f"CPU      {cpu.model or 'unknown'} ({cores}); flags: {flags}")
    out.show(f"backend  {hw.backend}  [dim]({hw.backend_source})[/dim]")


def probe_command(json_output: JsonOpt = False) -> None:
    """Show RAM (container-aware), GPU memory and CPU features, with the source of every figure."""
    from quantpick.cli.output import Output
    from quantpick.probe import probe_hardware

    out = Output(json_output)
    hw = probe_hardware()
    if json_output:
        out.json(hw.to_dict())
    else:
        render_hardware(out, hw)
    for warning in hw.warnings:
        out.warning(warning)


def register(app: typer.Typer) -> None:
    app.command("probe", epilog=EPILOG)(probe_command)
