"""The runner command lines quantpick prints: exact llama.cpp invocations for a pick. Pure."""

from __future__ import annotations

import shlex

from quantpick.memory import DEFAULT_BATCH, DEFAULT_UBATCH, RunnerSettings
from quantpick.rules import Candidate


def llama_server_command(
    repo: str,
    pick: Candidate | None,
    ctx: int,
    *,
    label: str | None = None,
    model_path: str | None = None,
    mmproj_path: str | None = None,
    runner: RunnerSettings | None = None,
    rpc: list[str] | None = None,
) -> str:
    """`llama-server -hf REPO:QUANT -c N -ngl N`, or `-m PATH` once the file is on disk."""
    if model_path is not None:
        parts = ["llama-server", "-m", shlex.quote(model_path)]
    else:
        parts = ["llama-server", "-hf", f"{repo}:{label or (pick.label if pick else '')}"]
    if mmproj_path is not None:
        parts += ["--mmproj", shlex.quote(mmproj_path)]
    parts += ["-c", str(ctx)]
    parts += runner_flags(runner or RunnerSettings())
    if rpc:
        parts += ["--rpc", ",".join(rpc)]
    if pick is not None:
        if pick.gpu_layers is not None:
            parts += ["-ngl", str(pick.gpu_layers)]
            if pick.cpu_moe_layers:
                parts += ["--n-cpu-moe", str(pick.cpu_moe_layers)]
        if pick.tensor_split is not None:
            parts += ["-ts", ",".join(f"{share:g}" for share in pick.tensor_split)]
        elif pick.placement == "gpu+cpu":
            parts += ["--fit", "on"]
    return " ".join(parts)


def runner_flags(runner: RunnerSettings) -> list[str]:
    """The llama-server flags for every setting that is not llama-server's default, so the estimate holds."""
    flags: list[str] = []
    if runner.parallel is not None:
        flags += ["-np", str(runner.parallel)]
        if runner.unified:
            flags.append("--kv-unified")
    elif runner.kv_unified is False:
        flags += ["-np", str(runner.slots)]  # auto slots always share one cache: spell the count out to split it
    if runner.flash_attn != "auto":
        flags += ["-fa", runner.flash_attn]
    if runner.ubatch != DEFAULT_UBATCH:
        flags += ["-ub", str(runner.ubatch)]
        if runner.ubatch > DEFAULT_BATCH:
            flags += ["-b", str(runner.ubatch)]
    if runner.cache_type_k != "f16":
        flags += ["-ctk", runner.cache_type_k]
    if runner.cache_type_v != "f16":
        flags += ["-ctv", runner.cache_type_v]
    return flags
