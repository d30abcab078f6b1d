"""The runner command lines quantpick prints: exact llama.cpp invocations for a pick. Pure."""

from __future__ import annotations

import shlex

from quantpick.rules import Candidate


def llama_server_command(
    repo: str,
    pick: Candidate | None,
    ctx: int,
    *,
    label: str | None = None,
    model_path: str | None = None,
    mmproj_path: str | None = None,
) -> str:
    """`llama-server -hf REPO:QUANT -c N -ngl N`, or `-m PATH` once the file is on disk."""
    if model_path is not None:
        parts = ["llama-server", "-m", shlex.quote(model_path)]
    else:
        parts = ["llama-server", "-hf", f"{repo}:{label or (pick.label if pick else '')}"]
    if mmproj_path is not None:
        parts += ["--mmproj", shlex.quote(mmproj_path)]
    parts += ["-c", str(ctx)]
    if pick is not None:
        if pick.gpu_layers is not None:
            parts += ["-ngl", str(pick.gpu_layers)]
        elif pick.placement == "gpu+cpu":
            parts += ["--fit", "on"]
    return " ".join(parts)
