"""Flags shared by several commands, defined once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (schema_version 1).")]
RepoArg = Annotated[
    str,
    typer.Argument(metavar="REPO", help="Hugging Face repo id, e.g. bartowski/Qwen_Qwen3-8B-GGUF.", show_default=False),
]
RevisionOpt = Annotated[
    str | None, typer.Option("--revision", "-r", metavar="REV", help="Branch, tag or commit (default: main).")
]
ModeOpt = Annotated[str, typer.Option("--mode", metavar="MODE", help="auto | speed (GPU only) | quality (GPU + RAM).")]
CtxOpt = Annotated[
    int, typer.Option("--ctx", "-c", metavar="TOKENS", help="Context length to plan the KV cache for, in tokens.")
]
ReserveOpt = Annotated[
    str | None,
    typer.Option(
        "--reserve",
        metavar="SIZE",
        help="Memory to keep besides the weights (replaces the KV + overhead estimate), e.g. 1.5GiB.",
    ),
]
PreferOpt = Annotated[str, typer.Option("--prefer", metavar="FAMILY", help="auto | k (K-quants) | i (I-quants) | any.")]
VramOpt = Annotated[
    str | None, typer.Option("--vram", metavar="SIZE", help="Plan for this much GPU memory (0 = no GPU).")
]
RamOpt = Annotated[str | None, typer.Option("--ram", metavar="SIZE", help="Plan for this much system RAM.")]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", metavar="NAME", help="cuda | rocm | metal | vulkan | cpu.")
]
HardwareOpt = Annotated[
    str | None,
    typer.Option("--hardware", metavar="FILE", help="Plan for the machine in a saved `quantpick probe --json` file."),
]
QuantOpt = Annotated[
    str | None,
    typer.Option(
        "--quant", "-q", metavar="QUANT", help="Take this quant (e.g. Q4_K_M) instead of the recommended one."
    ),
]
