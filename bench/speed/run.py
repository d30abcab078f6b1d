"""quantpick's generation-speed estimate against published llama.cpp results and against llama-bench here.

    bash bench/accuracy/build.sh && (cd bench/_work/accuracy/llama/build && ninja llama-bench)  # once
    python bench/accuracy/run.py        # once: writes the bench/accuracy models
    python bench/speed/run.py           # writes bench/speed/results.md; --published for the first table only

The first table runs quantpick's speed model (src/quantpick/speed.py) on the hardware and files of published
tg128 figures, each with its source. The second measures tg64 with llama-bench (b11434, CPU, every core of this
machine) on the bench/accuracy models and compares quantpick's estimate for this machine, given the RAM bandwidth
and the CPU cache that `quantpick probe --measure` measures here. The third measures Llama-shaped files of 35-174
MB per token, on one core and on all: the source of the cache constants in speed.py. The fourth times each tensor
type's CPU kernels: the source of speed.CPU_KERNEL_FACTORS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench" / "accuracy"))
WORK = ROOT / "bench" / "_work" / "accuracy"
LLAMA = WORK / "llama" / "build" / "bin"

from models import SHAPES, Shape, real_gemma3_270m, write  # noqa: E402

from quantpick.catalog import load_catalog  # noqa: E402
from quantpick.gguf import ModelShape, read_metadata, shape_from_metadata  # noqa: E402
from quantpick.probe.memory_speed import MemorySpeed, measure  # noqa: E402
from quantpick.speed import SpeedEstimate, estimate  # noqa: E402

GB, GiB = 1e9, 1024**3
CATALOG = load_catalog()
LLAMA2_7B = ModelShape("llama", 32, 4096, 4096, 32, 32, 128, 128, vocab_size=32000, feed_forward_length=11008)
LLAMA31_8B = ModelShape("llama", 32, 4096, 131072, 32, 8, 128, 128, vocab_size=128256, feed_forward_length=14336)

# (hardware, bandwidth GB/s and its source, backend, cores, model, shape, quant, file bytes, published tg128, source)
PUBLISHED = [
    (
        "Apple M1 Max (32-core GPU)",
        400.0,
        "Apple: M1 Max, 400 GB/s",
        "metal",
        None,
        "Llama-3.1-8B",
        LLAMA31_8B,
        "Q4_K_M",
        4.92 * GB,
        46.2,
        "brand-o/normiebench#40 (llama.cpp Metal, 2026-03)",
    ),
    (
        "Apple M4 (10-core GPU)",
        120.0,
        "Apple: M4, 120 GB/s",
        "metal",
        None,
        "Llama-3.1-8B",
        LLAMA31_8B,
        "Q4_K_M",
        4.92 * GB,
        20.87,
        "brand-o/normiebench#3 (llama.cpp Metal, 2026-03)",
    ),
    (
        "RTX 4090",
        1008.0,
        "NVIDIA: 1008 GB/s",
        "cuda",
        None,
        "Llama-2-7B",
        LLAMA2_7B,
        "Q8_0",
        6.67 * GiB,
        98.13,
        "ggml-org/llama.cpp#4766 (ggerganov, 2024-01-10)",
    ),
    (
        "RTX 4090",
        1008.0,
        "NVIDIA: 1008 GB/s",
        "cuda",
        None,
        "Llama-2-7B",
        LLAMA2_7B,
        "F16",
        12.55 * GiB,
        61.03,
        "ggml-org/llama.cpp#4766 (ggerganov, 2024-01-10)",
    ),
    (
        "RTX 4090",
        1008.0,
        "NVIDIA: 1008 GB/s",
        "cuda",
        None,
        "Llama-2-7B",
        LLAMA2_7B,
        "Q4_0",
        3.56 * GiB,
        149.37,
        "XiongjieDai/GPU-Benchmarks-on-LLM-Inference README (llama.cpp eval speed, RunPod, Dec 2023)",
    ),
    (
        "RTX 3090 Ti",
        1008.0,
        "NVIDIA: 1008 GB/s",
        "cuda",
        None,
        "Llama-2-7B",
        LLAMA2_7B,
        "Q4_0",
        3.56 * GiB,
        127.43,
        "ggml-org/llama.cpp#4812 (slaren, 2024-01-07)",
    ),
    (
        "i9-13900K, DDR5-6400, 8 threads",
        102.4,
        "2 channels x 8 B x 6400 MT/s",
        "cpu",
        8,
        "Llama-2-7B",
        LLAMA2_7B,
        "Q4_0",
        3.56 * GiB,
        18.27,
        "ggml-org/llama.cpp#34 (slaren, 2023-08-12)",
    ),
]


def published_rows() -> list[str]:
    rows = [
        "## Published tg128 figures",
        "",
        "| hardware | model | quant | published | quantpick | error | source |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for hardware, bandwidth, bw_source, backend, cores, model, shape, quant, size, tg, source in PUBLISHED:
        on_gpu = backend != "cpu"
        speed = estimate(
            int(size),
            shape,
            0,  # tg128 runs at a near-empty context
            1.0 if on_gpu else 0.0,
            (bandwidth, bw_source) if on_gpu else None,
            (bandwidth, bw_source),
            CATALOG.get(quant),
            backend,  # type: ignore[arg-type]
            cpu_cores=cores,
        )
        ours = speed.generation_tokens_per_second
        rows.append(
            f"| {hardware} | {model} | {quant} | {tg:.1f} t/s | {ours:.1f} t/s | {(ours - tg) / tg:+.0%} | {source} |"
        )
    return rows


def llama_bench(path: Path, threads: int) -> float:
    command = [str(LLAMA / "llama-bench"), "-m", str(path), "-p", "0", "-n", "64", "-r", "3", "-t", str(threads)]
    if "deepseek2" in path.name:
        command += ["-fa", "0"]  # b11434 aborts with flash attention on for this model (bench/accuracy)
    done = subprocess.run([*command, "-o", "json"], capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)[0]["avg_ts"])


def quantized(f16: Path, path: Path, kind: str, *flags: str) -> Path:
    """`path`, made from `f16` by llama-quantize when missing, and on disk before it is timed."""
    if not path.exists():
        command = [str(LLAMA / "llama-quantize"), *flags, str(f16), str(path), kind, str(os.cpu_count() or 1)]
        subprocess.run(command, check=True, capture_output=True)
        os.sync()  # a file still being written back reads at half speed
    return path


def file_shape(path: Path) -> ModelShape:
    with path.open("rb") as handle:
        values, _ = read_metadata(handle.read(16 << 20))
    return shape_from_metadata(values)


def cache_text(memory: MemorySpeed) -> str:
    return f"{memory.cache_bytes / 2**20:.0f} MiB" if memory.cache_bytes else "none"


def machine_line(threads: int, memory: MemorySpeed) -> str:
    return (
        f"CPU backend, {threads} thread{'s' if threads > 1 else ''}; measured by `quantpick probe --measure`'s"
        f" code: RAM {memory.ram_gbps:.1f} GB/s, cache {cache_text(memory)}. quantpick is given both and the core"
        " count."
    )


def ours(path: Path, shape: ModelShape, quant: str, threads: int, memory: MemorySpeed) -> SpeedEstimate:
    """quantpick's estimate for `path` on the CPU of this machine, as measured."""
    return estimate(
        path.stat().st_size,
        shape,
        0,
        0.0,
        None,
        (memory.ram_gbps, "measured"),
        CATALOG.get(quant),
        "cpu",
        cpu_cores=threads,
        cpu_cache_bytes=memory.cache_bytes,
    )


def local_rows() -> list[str]:
    threads = os.cpu_count() or 1
    memory = measure(threads)
    rows = [
        "## llama-bench on this machine",
        "",
        machine_line(threads, memory),
        "",
        "| model | quant | file | llama-bench tg64 | quantpick | error |",
        "|---|---|---:|---:|---:|---:|",
    ]
    # Q3_K_M against IQ3_S and Q4_K_S against IQ4_XS: the I-quant kernels' CPU speed at about the same size
    extra = [("llama3-gqa", q) for q in ("Q3_K_M", "IQ3_S", "Q4_K_S", "IQ4_XS")]
    files = [(s.name, "Q4_K_M") for s in SHAPES] + extra
    folder = WORK / "models"
    made = [(n, q, quantized(folder / f"{n}-F16.gguf", folder / f"{n}-{q}.gguf", q)) for n, q in files]
    # and the real Gemma 3 270M Q4_K_M that bench/accuracy fetches: an uploader's mix of types (Q8_0 embeddings)
    for name, quant, path in [*made, ("gemma3-270m (real)", "Q4_K_M", real_gemma3_270m(WORK))]:
        measured = llama_bench(path, threads)
        estimated = ours(path, file_shape(path), quant, threads, memory).generation_tokens_per_second
        rows.append(
            f"| {name} | {quant} | {path.stat().st_size / GiB:.2f} GiB | {measured:.2f} t/s | {estimated:.2f} t/s |"
            f" {(estimated - measured) / measured:+.0%} |"
        )
    return rows


def cache_shapes() -> list[Shape]:
    """Llama-shaped files from 35 to 174 MB read per token (Q4_K_M), none of them a bench/accuracy model."""
    return [
        Shape(f"llama-{embd}", "llama", f"{layers} layers of {embd}", layers, embd, 16, 16, ff, 32000, 4096)
        for layers, embd, ff in ((4, 768, 2048), (6, 1024, 2816), (6, 1280, 3456), (6, 1536, 4096), (8, 1536, 4096))
    ]


def cache_rows() -> list[str]:
    """Where weights stay in the CPU's caches and how fast they are read there, on one core and on all:
    the source of speed.CACHE_CORE_GBPS and speed.WEIGHTS_CACHE_SHARE."""
    folder = WORK / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        "## Weights in the CPU's caches",
        "",
        "Llama-shaped files (32k vocabulary, Q4_K_M) of growing width, tg64: GB of weights read a second per core,"
        " and quantpick's estimate with the cache measured for that many cores.",
        "",
        "| threads | measured cache | file | read per token | llama-bench tg64 | GB/s per core | quantpick | error |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    counts = sorted({1, os.cpu_count() or 1})
    for index, shape in enumerate(cache_shapes()):
        f16 = folder / f"{shape.name}-{shape.layers}-F16.gguf"
        if not f16.exists():
            write(shape, f16, seed=index)
        path = quantized(f16, folder / f"{shape.name}-{shape.layers}-Q4_K_M.gguf", "Q4_K_M")
        header = file_shape(path)
        for threads in counts:
            memory = measure(threads)  # just before: this VM's share of the host's cache moves between minutes
            measured = llama_bench(path, threads)
            speed = ours(path, header, "Q4_K_M", threads, memory)
            estimated = speed.generation_tokens_per_second
            per_token = speed.reads[0].bytes_per_token  # quantpick's bytes a token reads, the same on any core count
            rows.append(
                f"| {threads} | {cache_text(memory)} | {shape.source} | {per_token / 1e6:.0f} MB | {measured:.1f} t/s |"
                f" {measured * per_token / threads / GB:.1f} | {estimated:.1f} t/s |"
                f" {(estimated - measured) / measured:+.0%} |"
            )
    return rows


PURE_TYPES = ("Q4_K", "Q2_K", "Q3_K", "Q5_K", "Q6_K", "Q4_0", "Q8_0", "IQ4_XS", "IQ3_S")


def kernel_rows() -> list[str]:
    """Each tensor type's CPU kernel speed per byte, relative to Q4_K: the Llama-2 shape quantized with
    llama-quantize --pure (every tensor the one type), tg64 on every core; the source of speed.CPU_KERNEL_FACTORS."""
    threads = os.cpu_count() or 1
    f16 = WORK / "models" / "llama2-mha-F16.gguf"
    folder = WORK / "models"
    paths = {k: quantized(f16, folder / f"llama2-mha-pure-{k}.gguf", k, "--pure") for k in PURE_TYPES} | {"F16": f16}
    # every tensor but the token embedding is read per token: its share of the file is the same for every type;
    # the best of two llama-bench runs, as this VM's neighbours come and go
    rates = {k: max(llama_bench(p, threads) for _ in range(2)) * p.stat().st_size for k, p in paths.items()}
    rows = [
        "## CPU kernels by tensor type",
        "",
        f"The Llama-2-7B shape (4 layers) with every tensor one type (`llama-quantize --pure`), tg64 on {threads}"
        " threads: bytes of weights read per second, relative to Q4_K.",
        "",
        "| type | file | relative speed per byte |",
        "|---|---:|---:|",
    ]
    for kind, rate in rates.items():
        rows.append(f"| {kind} | {paths[kind].stat().st_size / GiB:.2f} GiB | {rate / rates['Q4_K']:.2f} |")
    return rows


def main() -> None:
    rows = ["# quantpick's speed estimate vs llama.cpp", "", "Produced by `python bench/speed/run.py`.", ""]
    rows += published_rows()
    if "--published" not in sys.argv:
        rows += ["", *local_rows(), "", *cache_rows(), "", *kernel_rows()]
    text = "\n".join(rows) + "\n"
    (ROOT / "bench" / "speed" / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
