"""Generation speed: tokens/s bound by memory bandwidth. Pure arithmetic, every figure with its source.

Generating one token reads the weights it uses once (for an MoE only the experts the router picks) and the KV
cache of the context. Each device that holds a share reads it at its effective bandwidth, one after the other:
time per token = sum over devices of bytes / (bandwidth x efficiency x kernel factor).
The README section "How speed is estimated" lists the calibration figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantpick.catalog import QuantType
from quantpick.gguf import ModelShape
from quantpick.states import Backend

# Fraction of the theoretical bandwidth llama.cpp's token generation reaches, and a fixed cost per offloaded
# layer and token (kernel launches and synchronisation), fitted to published tg128 figures (bench/speed/results.md:
# RTX 4090 7B F16 and Q8_0, RTX 3090 Ti 7B Q4_0, Apple M1 Max and M4 8B Q4_K_M, i9-13900K 7B Q4_0): every one
# lands within 25%.
GPU_EFFICIENCY = 0.80
GPU_SECONDS_PER_LAYER = 0.0001
CPU_EFFICIENCY = 0.70
EFFICIENCY_SOURCE = "efficiency 0.80 GPU / 0.70 CPU, fitted to published llama.cpp tg128 results (bench/speed)"

# When the probe has no figure and no flag gives one. Theoretical peaks from the makers' specifications.
DEFAULT_GPU_BANDWIDTH = 360.0  # GB/s: a GeForce RTX 3060 12GB, a common llama.cpp card (NVIDIA's specifications)
DEFAULT_RAM_BANDWIDTH = 51.2  # GB/s: dual-channel DDR4-3200, 2 x 8 bytes x 3200 MT/s (JEDEC)
DEFAULT_METAL_BANDWIDTH = 100.0  # GB/s: Apple M2 and M3, the base chips (Apple's specifications)
# A CPU core dequantizes and multiplies only so many bytes of weights a second: with few cores generation is
# bound by compute, not memory. Measured with llama-bench b11434 (tg64, 2 threads) on this project's 2-vCPU Xeon
# VM with Q4_K_M files, the most common type: 6.7 GB/s per core (bench/speed/results.md; the VM drifts +-20%
# between days).
CPU_CORE_GBPS = 6.7
DEFAULT_CPU_CORES = 8
# Weights that stay in the CPU's caches between tokens are not read from RAM. llama-bench b11434 (tg64) on
# Llama-shaped Q4_K_M files on this project's VM (bench/speed/results.md, "Weights in the CPU's caches"): a
# 35 MB token reads at 10.4-12.4 GB/s per core on 2 threads (four runs; mamba-130m's 42 MB at 13.0), where
# 105-174 MB read at 5.4-7.7 from RAM. How much stays cached follows what memchr (`probe --measure`, the best of
# three sweeps) still reads at cache speed, 96-128 MiB here on 1 and 2 cores: llama.cpp's weights stayed cached
# at 35 MB and not at 105, with 70 MB half way (8.3-12.7 GB/s per core over three runs). Half the measured size
# is counted, the cautious end, so a file at the edge is never promised cache speed.
CACHE_CORE_GBPS = 11.8
WEIGHTS_CACHE_SHARE = 0.5
CACHE_SOURCE = "weights in the CPU's caches read at 11.8 GB/s per core, llama-bench b11434 (bench/speed)"
# Each type's CPU kernels per byte of weights, relative to Q4_K, by a quant's main tensor type; they scale the
# compute bound, never the memory one. llama-bench b11434 on this project's AVX-512/AMX machine, 2 threads
# (bench/speed/results.md): on the label's own file where bench/speed has one (llama3 shape: Q3_K_M 0.74, 0.75
# and 0.79 of Q4_K_M per byte on three runs, IQ4_XS 0.83, 0.89 and 0.91), else on the type's pure file (Llama-2
# shape, every tensor that type, three runs: Q2_K 0.65/0.65/0.68, Q5_K 0.76/0.75/0.84, Q6_K 0.81/0.82/0.91,
# Q4_0 1.54/1.65/1.75, Q8_0 1.56/1.73/1.65, F16 1.40/1.70/1.61).
CPU_KERNEL_FACTORS: dict[str, float] = {
    "Q2_K": 0.65,
    "Q3_K": 0.75,
    "Q4_K": 1.0,
    "Q5_K": 0.75,
    "Q6_K": 0.82,
    "Q4_0": 1.6,
    "Q8_0": 1.65,
    "F16": 1.55,
    "IQ4_XS": 0.85,
}
CPU_KERNEL_SOURCE = "CPU kernel speed per byte by type, llama-bench b11434 (bench/speed)"
# The codebook I-quants (IQ1-IQ3) on the CPU: IQ3_S's label file 0.41 and 0.35 of Q4_K_M per byte on two runs
# (its pure file 0.28 and 0.29: a label's output matrix and upgraded layers are K-quants).
CODEBOOK_FACTOR_CPU = 0.40
# Metal IQ4: llama.cpp PR #5590 ("20% slower" tg for IQ4_NL) and PR #5747 (IQ4_XS 53.9 vs Q4_0 63.1 t/s).
# Metal/Vulkan codebook types: no published figure; the CPU's, against the K-quant of the same size, is kept:
# IQ3_S 0.46-0.55x Q3_K_M per byte on label files (bench/speed).
IQ4_FACTOR_METAL = 0.80
CODEBOOK_FACTOR_GPU = 0.50
SLOW_IQUANT_BACKENDS: tuple[Backend, ...] = ("cpu", "metal", "vulkan")


def main_type(quant: QuantType) -> str | None:
    """The tensor type most of a quant label's weights are in: Q4_K for Q4_K_M, IQ3_S for IQ3_M, F16 for BF16."""
    name = (quant.base or quant.name).upper().removeprefix("UD-")
    if name in ("F16", "BF16", "F32"):
        return "F16"
    if name.startswith(("IQ1", "IQ2", "IQ3")):
        return "IQ3_S"
    if name.startswith("IQ4"):
        return "IQ4_XS"
    if name in ("Q4_0", "Q4_1", "Q5_0", "Q5_1"):
        return "Q4_0"
    if name == "Q8_0":
        return "Q8_0"
    if len(name) >= 4 and name[0] == "Q" and name[2:4] == "_K":
        return name[:4]
    return None


@dataclass(frozen=True)
class DeviceRead:
    device: str  # "gpu" or "cpu"
    bytes_per_token: float
    bandwidth_gbps: float
    bandwidth_source: str


@dataclass(frozen=True)
class SpeedEstimate:
    generation_tokens_per_second: float
    prompt_tokens_per_second: float | None  # no sourced basis yet: None
    bound_by: str
    basis: str
    source: str
    reads: tuple[DeviceRead, ...]


def kernel_factor(quant: QuantType | None, backend: Backend) -> tuple[float, str | None]:
    """How fast this type's kernels run on `backend` relative to Q4_K (the CPU) or a K-quant of its size (GPUs),
    and why. On the CPU it scales the compute bound only."""
    if quant is None:
        return 1.0, None
    base = (quant.base or quant.name).upper()
    if backend == "cpu":
        if quant.is_iquant and not base.startswith("IQ4"):
            return CODEBOOK_FACTOR_CPU, f"I-quant kernels run at ~{CODEBOOK_FACTOR_CPU:.2f}x Q4_K's speed on the CPU"
        kind = main_type(quant)
        factor = CPU_KERNEL_FACTORS.get(kind or "", 1.0)
        if factor == 1.0:
            return 1.0, None
        return factor, f"{kind} kernels run at ~{factor:.2f}x Q4_K's speed per byte on the CPU"
    if not quant.is_iquant or backend not in SLOW_IQUANT_BACKENDS:
        return 1.0, None
    if base.startswith("IQ4"):
        if backend == "metal":
            return IQ4_FACTOR_METAL, "IQ4 kernels ~20% slower on Metal (llama.cpp PR #5590, #5747)"
        return 1.0, None
    return CODEBOOK_FACTOR_GPU, f"I-quant kernels run at ~{CODEBOOK_FACTOR_GPU:.2f}x a K-quant's speed on {backend}"


def parameter_split(shape: ModelShape) -> tuple[float, float, float]:
    """(all parameters, expert parameters, token-embedding parameters) estimated from the header's shape keys."""
    embd = shape.embedding_length or 4096
    vocab = shape.vocab_size or 32000
    layers = shape.block_count
    heads = shape.head_count if isinstance(shape.head_count, int) else 32
    kv_heads = shape.head_count_kv if isinstance(shape.head_count_kv, int) else heads
    head_dim = shape.key_length or (embd // heads if heads else 128)
    attention = embd * head_dim * (2 * heads + 2 * kv_heads)
    experts = 0.0
    dense_layers = layers
    if shape.is_moe and shape.expert_feed_forward_length:
        dense_layers = min(shape.leading_dense_block_count or 0, layers)
        moe_layers = layers - dense_layers
        per_expert = 3 * embd * shape.expert_feed_forward_length
        experts = float(per_expert * (shape.expert_count or 0) * moe_layers)
        shared = per_expert * (shape.expert_shared_count or 0) * moe_layers
    else:
        shared = 0
    dense_ff = 3 * embd * (shape.feed_forward_length or 4 * embd) * dense_layers
    embedding = float(vocab * embd)
    total = attention * layers + dense_ff + shared + experts + 2 * embedding
    return float(total), experts, embedding


# Architectures whose GGUF files never carry an output matrix of their own: llama.cpp's converter drops Gemma's
# and Gemma 2's lm_head.weight (conversion/gemma.py, b11434), and Gemma 3 checkpoints tie it to the embeddings.
# The file's size cannot tell here: uploaders keep these large embedding tables at Q8_0 or Q6_K, whatever the
# label (the real Gemma 3 270M Q4_K_M: 72% of its bytes are a Q8_0 token_embd).
TIED_ARCHITECTURES = ("gemma", "gemma2", "gemma3")


def is_tied(shape: ModelShape, file_params: float | None) -> bool:
    """Whether the output matrix is the embedding table: by architecture, else by the file's size (a tied file
    is one embedding table smaller)."""
    if shape.architecture in TIED_ARCHITECTURES:
        return True
    if file_params is None:
        return False
    total, _, embedding = parameter_split(shape)
    return abs(file_params - (total - embedding)) < abs(file_params - total)


def parameter_count(shape: ModelShape, file_bytes: int, bpw: float | None) -> float:
    """The model's parameters from its shape: one embedding table fewer when it is tied."""
    total, _, embedding = parameter_split(shape)
    return total - embedding if is_tied(shape, file_bytes * 8 / bpw if bpw else None) else total


def _used_share(shape: ModelShape | None) -> float:
    """The share of its experts one token uses (1 for a dense model)."""
    if shape is None or not shape.expert_count:
        return 1.0
    return min((shape.expert_used_count or 0) / shape.expert_count, 1.0)


def active_fraction(shape: ModelShape | None, file_params: float | None = None) -> tuple[float, float]:
    """(fraction of the file one token reads, fraction of the file that is expert tensors).

    `file_params` (the file's size over its type's bits per weight) tells a tied output matrix from a separate
    one: the header does not say, but a tied file is one embedding table smaller.
    """
    if shape is None:
        return 1.0, 0.0
    total, experts, embedding = parameter_split(shape)
    if total <= 0:
        return 1.0, 0.0
    used = _used_share(shape)
    if is_tied(shape, file_params):
        total -= embedding  # the output matrix is the embedding table, read in full for every token
        read = total - experts * (1 - used)
    else:
        read = total - embedding - experts * (1 - used)  # one token reads one row of the embedding table
    return max(read / total, 0.01), experts / total


def estimate(
    weights_bytes: int,
    shape: ModelShape | None,
    kv_read_bytes: int,
    gpu_share: float,
    gpu_bandwidth: tuple[float, str] | None,
    cpu_bandwidth: tuple[float, str],
    quant: QuantType | None,
    backend: Backend,
    *,
    expert_layers_on_cpu: int = 0,
    cpu_cores: int | None = None,
    cpu_cache_bytes: int | None = None,
    network_seconds: float = 0.0,
) -> SpeedEstimate:
    """Tokens/s for a file of `weights_bytes` with `gpu_share` of its layers (0..1) on the GPU.

    With `expert_layers_on_cpu` (--n-cpu-moe N) every layer is on the GPU except the experts of N layers.
    `cpu_cache_bytes` is the CPU's cache (Cpu.cache_bytes): weights the CPU holds that fit in its share of it
    are read at cache speed, bound by compute alone.
    """
    bpw = (quant.bpw_effective or quant.bpw_nominal) if quant is not None else None
    read_fraction, expert_fraction = active_fraction(shape, weights_bytes * 8 / bpw if bpw else None)
    per_token = weights_bytes * read_fraction
    # what the CPU reads over many tokens: for an MoE every expert it holds, not only those one token uses
    unused_experts = weights_bytes * expert_fraction * (1 - _used_share(shape))
    cpu_working_set = per_token + unused_experts
    reads: list[DeviceRead] = []
    if gpu_bandwidth is not None and (gpu_share > 0 or expert_layers_on_cpu):
        if expert_layers_on_cpu and shape is not None and shape.expert_count:
            moe_layers = shape.block_count - min(shape.leading_dense_block_count or 0, shape.block_count)
            used = _used_share(shape)
            expert_read = weights_bytes * expert_fraction * used
            on_cpu = expert_read * min(expert_layers_on_cpu, moe_layers) / max(moe_layers, 1)
            gpu_part = per_token - on_cpu + kv_read_bytes
            cpu_part = on_cpu
            cpu_working_set = on_cpu / used if used else on_cpu
        else:
            gpu_part = per_token * gpu_share + kv_read_bytes * gpu_share
            cpu_part = per_token * (1 - gpu_share) + kv_read_bytes * (1 - gpu_share)
            cpu_working_set *= 1 - gpu_share
        reads.append(DeviceRead("gpu", gpu_part, *gpu_bandwidth))
        if cpu_part > 0:
            reads.append(DeviceRead("cpu", cpu_part, *cpu_bandwidth))
    else:
        reads.append(DeviceRead("cpu", per_token + kv_read_bytes, *cpu_bandwidth))
    factors = {r.device: kernel_factor(quant, backend if r.device == "gpu" else "cpu") for r in reads}
    cores = cpu_cores or DEFAULT_CPU_CORES
    cached = bool(cpu_cache_bytes) and cpu_working_set <= (cpu_cache_bytes or 0) * WEIGHTS_CACHE_SHARE
    compute_ceiling = cores * (CACHE_CORE_GBPS if cached else CPU_CORE_GBPS)

    def rate(read: DeviceRead) -> float:
        if read.device == "cpu" and cached:
            return compute_ceiling * factors["cpu"][0]
        if read.device == "cpu":
            return min(read.bandwidth_gbps * CPU_EFFICIENCY, compute_ceiling * factors["cpu"][0])
        return read.bandwidth_gbps * GPU_EFFICIENCY * factors["gpu"][0]

    gpu_layers = 0.0
    if reads[0].device == "gpu" and shape is not None:
        gpu_layers = shape.block_count * (1.0 if expert_layers_on_cpu else gpu_share)
    compute_seconds = sum(r.bytes_per_token / (rate(r) * 1e9) for r in reads) + gpu_layers * GPU_SECONDS_PER_LAYER
    seconds = compute_seconds + network_seconds
    factor, why = min(factors.values(), key=lambda f: f[0])
    cpu_reads = [r for r in reads if r.device == "cpu"]
    cpu_factor = factors["cpu"][0] if "cpu" in factors else 1.0
    compute_bound = bool(cpu_reads) and (
        cached or compute_ceiling * cpu_factor < cpu_reads[0].bandwidth_gbps * CPU_EFFICIENCY
    )
    slowest = max(reads, key=lambda r: r.bytes_per_token / rate(r))
    what = "compute" if slowest.device == "cpu" and compute_bound else "memory bandwidth"
    if what == "compute" and cached:
        what = "compute (weights in cache)"
    bound = f"{slowest.device} {what}" + (" (split)" if len(reads) > 1 else "")
    if network_seconds > compute_seconds:
        bound = "network (RPC)"
    parts = " + ".join(
        f"{r.bytes_per_token / 1e9:.2f} GB at {r.bandwidth_gbps:g} GB/s on the {r.device}" for r in reads
    )
    efficiency = f"x{GPU_EFFICIENCY:g} GPU / x{CPU_EFFICIENCY:g} CPU efficiency"
    basis = f"per token: {parts}, {efficiency}" + (f", x{factor:g}: {why}" if why else "")
    if gpu_layers:
        basis += f", + {GPU_SECONDS_PER_LAYER * 1e3:g} ms per GPU layer"
    if network_seconds:
        basis += f", + {network_seconds * 1e3:.2f} ms of network per token (RPC)"
    if cached:
        basis += (
            f"; the CPU's {cpu_working_set / 1e6:.0f} MB of weights fit in its cache"
            f" ({(cpu_cache_bytes or 0) / 2**20:.0f} MiB, x{WEIGHTS_CACHE_SHARE:g} for weights):"
            f" {cores} cores x {CACHE_CORE_GBPS * cpu_factor:.3g} GB/s each"
        )
    elif compute_bound:
        basis += f"; {cores} CPU cores x {CPU_CORE_GBPS * cpu_factor:.2g} GB/s of weights each cap the CPU part"
    sources = [*(r.bandwidth_source for r in reads), EFFICIENCY_SOURCE]
    if cached:
        sources.append(CACHE_SOURCE)
    if cpu_factor != 1.0 and cpu_reads:
        sources.append(CPU_KERNEL_SOURCE)
    source = "; ".join(dict.fromkeys(sources))
    return SpeedEstimate(1 / seconds if seconds > 0 else 0.0, None, bound, basis, source, tuple(reads))
