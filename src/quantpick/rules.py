"""The rules: which quant to take for this machine, with a reason for every verdict.

One pure function, `recommend`, of (hardware, parsed repo, model shape, catalog, options). No I/O, no
environment, no clock. The README's "The rules" section describes the same steps in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantpick.catalog import Catalog, QuantType
from quantpick.cluster import Network
from quantpick.errors import InvalidValue, NoFitError, UsageError
from quantpick.gguf import ModelShape
from quantpick.hardware import Hardware
from quantpick.memory import (
    CELL_PADDING,
    DeviceLayers,
    Reserve,
    RunnerSettings,
    compute_bytes,
    device_compute_bytes,
    estimate_reserve,
    head_compute_bytes,
    kv_cache_bytes,
    max_context_within,
    runs_as_pipeline,
)
from quantpick.naming import ParsedRepo, QuantGroup
from quantpick.sizes import GiB, format_size
from quantpick.speed import (
    DEFAULT_GPU_BANDWIDTH,
    DEFAULT_METAL_BANDWIDTH,
    DEFAULT_RAM_BANDWIDTH,
    SpeedEstimate,
    active_fraction,
    parameter_count,
)
from quantpick.speed import estimate as estimate_speed
from quantpick.states import MODES, PREFERENCES, Backend, BudgetMode, Mode, Placement, Preference, Verdict

IQUANT_BACKENDS: tuple[Backend, ...] = ("cuda", "rocm")  # I-quants give more quality per byte below Q4 there
DEFAULT_CTX = 8192  # the context planned for when none is given (clamped to the model's trained context)
# A reading pace. People read 200-300 words a minute, 3.3-5 words/s, and a token is ~0.75 words, so 5 tokens/s
# (3.75 words/s) is about as fast as the text is read; slower than that, the reader waits.
DEFAULT_MIN_SPEED = 5.0
# Mean KLD at or under this counts as lossless: Q8_0 and Q6_K, which model cards call near-perfect, are both under
# it (0.0014 and 0.0055 on Llama-3-8B, the catalog's figures). Among candidates there, one at least twice as fast
# wins: an 8B Q6_K all on the GPU, not Q8_0 split with RAM at a fifth of the speed.
LOSSLESS_LOSS = 0.01
LOSSLESS_SPEEDUP = 2.0
# Mean KLD on Llama-3-8B jumps past 0.2 at IQ2_XS and below (the catalog's figures): near-useless output.
DEFAULT_QUALITY_FLOOR = "IQ2_XS"
MAX_CTX = 1 << 27


@dataclass(frozen=True)
class Reason:
    """One step of a verdict: a stable machine code and the English text a person reads."""

    code: str
    text: str


@dataclass(frozen=True)
class Options:
    mode: Mode = "auto"
    ctx: int | None = None  # None: DEFAULT_CTX, or the model's trained context when that is shorter
    reserve_bytes: int | None = None
    prefer: Preference = "auto"
    quant: str | None = None  # an explicit choice; floats only this way
    runner: RunnerSettings = field(default_factory=RunnerSettings)  # llama-server's settings (slots, -fa, -ub, ...)
    min_speed: float = DEFAULT_MIN_SPEED  # tokens/s auto mode wants at least
    quality_floor: str | None = DEFAULT_QUALITY_FLOOR  # this type and worse are picked only when nothing else fits
    gpu_bandwidth_gbps: tuple[float, ...] | None = None  # per GPU; None: the probe's figures
    ram_bandwidth_gbps: float | None = None
    network: Network = field(default_factory=Network)  # between the head and its rpc-server workers

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidValue("mode", f"unknown mode {self.mode!r}", hint=f"use one of: {', '.join(MODES)}")
        if self.prefer not in PREFERENCES:
            raise InvalidValue(
                "prefer", f"unknown preference {self.prefer!r}", hint=f"use one of: {', '.join(PREFERENCES)}"
            )
        if self.ctx is not None and not 1 <= self.ctx <= MAX_CTX:
            raise InvalidValue(
                "ctx", f"the context must be 1 to {MAX_CTX} tokens, got {self.ctx}", hint="e.g. 8192 or 32768"
            )
        if self.reserve_bytes is not None and self.reserve_bytes < 0:
            raise InvalidValue("reserve", "the reserve cannot be negative")
        if not 0 <= self.min_speed <= 100_000:
            raise InvalidValue(
                "min_speed", f"the speed target must be 0 to 100000 tokens/s, got {self.min_speed:g}", hint="e.g. 10"
            )
        named = [("gpu_bandwidth", v) for v in self.gpu_bandwidth_gbps or ()]
        if self.ram_bandwidth_gbps is not None:
            named.append(("ram_bandwidth", self.ram_bandwidth_gbps))
        for field_name, value in named:
            if not 0 < value <= 100_000:
                raise InvalidValue(
                    field_name,
                    f"a bandwidth must be above 0 and at most 100000 GB/s, got {value:g}",
                    hint="GB/s, e.g. 1008 for an RTX 4090, 51.2 for dual-channel DDR4-3200",
                )

    def context_for(self, shape: ModelShape | None) -> int:
        """The context to plan for: the one asked for, else DEFAULT_CTX within the model's trained context."""
        if self.ctx is not None:
            return self.ctx
        trained = shape.context_length if shape is not None else None
        return min(DEFAULT_CTX, trained) if trained else DEFAULT_CTX


@dataclass(frozen=True)
class Budget:
    speed_bytes: int  # GPU memory for weights + reserve (no GPU: usable RAM)
    quality_bytes: int  # GPU memory + usable system RAM, counted once
    usable_ram_bytes: int
    has_gpu: bool
    explanation: list[str]


@dataclass(frozen=True)
class MemoryUse:
    """What a candidate needs, by part. `total_bytes` must fit: the file once (mapped pages of repacked tensors are
    clean and reclaimable), plus KV, compute, output and runtime. `repack_bytes` is reported apart."""

    weights_bytes: int
    repack_bytes: int
    kv_cache_bytes: int | None
    compute_bytes: int | None
    output_bytes: int | None
    runtime_bytes: int | None
    total_bytes: int
    devices: tuple[tuple[str, int], ...]  # ("gpu" for the GPUs together, "cpu"), bytes on each


@dataclass
class Candidate:
    """One quant of the repo (or one catalog type at an estimated size) and its verdict."""

    label: str
    quant: QuantType | None
    size_bytes: int
    group: QuantGroup | None = None  # the repo's files behind it; None for an estimate without a repo
    eligible: bool = True
    fits_speed: bool = False
    fits_quality: bool = False
    placement: Placement | None = None  # None when too large
    gpu_layers: int | None = None
    loss: float | None = None
    loss_source: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    memory: MemoryUse | None = None
    speed: SpeedEstimate | None = None
    cpu_moe_layers: int | None = None  # --n-cpu-moe N: experts of the first N layers stay in RAM
    tensor_split: tuple[float, ...] | None = None  # -ts: several GPUs, in proportion to their budgets
    below_floor: bool = False

    @property
    def files(self) -> list[str]:
        return [f.path for f in self.group.files] if self.group is not None else []

    @property
    def fits(self) -> bool:
        return self.placement is not None

    @property
    def verdict(self) -> Verdict:
        if not self.eligible:
            return "excluded"
        if self.placement == "gpu":
            return "fits GPU"
        if self.placement == "gpu+cpu":
            return "fits GPU+CPU"
        if self.placement == "cpu":
            return "fits RAM"
        return "too large"

    def say(self, code: str, text: str) -> None:
        self.reasons.append(Reason(code, text))


@dataclass
class Recommendation:
    budget: Budget
    reserve: Reserve
    mode: BudgetMode  # the budget the pick was made in
    pick: Candidate
    candidates: list[Candidate]
    runners_up: list[Candidate]
    notes: list[Reason]
    decision: Decision | None = None


@dataclass(frozen=True)
class Decision:
    mode: Mode
    min_speed: float
    quality_floor: str | None
    rule: str


# --- budgets ------------------------------------------------------------------------------------------


def compute_budget(hw: Hardware) -> Budget:
    usable_ram = hw.usable_ram_bytes()
    lines = [
        f"usable RAM {format_size(usable_ram)} = {format_size(hw.ram.total_bytes)} ({hw.ram.source})"
        f" - {format_size(hw.ram.total_bytes - usable_ram)} kept for the OS"
    ]
    gpu_total, shared = 0, 0
    for gpu in hw.gpus:
        if gpu.budget_bytes is None and gpu.unified:
            budget = usable_ram
            shared_part = usable_ram
            lines.append(f"{gpu.name}: unified memory, uses system RAM ({format_size(budget)})")
        else:
            budget = gpu.budget_bytes or 0
            shared_part = min(gpu.shared_with_ram_bytes or 0, budget)
            lines.append(f"{gpu.name}: {format_size(budget)} for the model ({gpu.source})")
        gpu_total += budget
        shared += shared_part
    shared = min(shared, usable_ram)
    if not hw.gpus:
        lines.append("no GPU: both budgets are RAM")
        return Budget(usable_ram, usable_ram, usable_ram, False, lines)
    quality = max(gpu_total + usable_ram - shared, gpu_total)
    lines.append(f"speed budget {format_size(gpu_total)} (GPU memory)")
    if shared:
        lines.append(f"quality budget {format_size(quality)} (GPU + RAM, {format_size(shared)} shared counted once)")
    else:
        lines.append(f"quality budget {format_size(quality)} (GPU + usable RAM)")
    return Budget(gpu_total, quality, usable_ram, True, lines)


# --- the rules ----------------------------------------------------------------------------------------


_PLACEMENT_RANK = {"gpu": 0, "gpu+cpu": 1, "cpu": 2}


def _rank_key(candidate: Candidate) -> tuple[float, int, int, int]:
    # Lower measured loss first; at equal loss the faster placement (all-GPU before split); an uploader variant
    # (_L, _XL, UD-) just above its base; then the smaller file.
    is_variant = bool(candidate.quant and candidate.quant.is_variant)
    loss = candidate.loss if candidate.loss is not None else float("inf")
    placement = _PLACEMENT_RANK.get(candidate.placement or "", 3)
    return (loss, placement, 0 if is_variant else 1, candidate.size_bytes)


def _best(candidates: list[Candidate]) -> Candidate | None:
    return min(candidates, key=_rank_key) if candidates else None


def _is_iquant(candidate: Candidate) -> bool:
    return candidate.quant is not None and candidate.quant.is_iquant


def _level(candidate: Candidate) -> int:
    return candidate.quant.level if candidate.quant is not None else 0


def _choose(pool: list[Candidate], prefer: Preference, backend: Backend) -> tuple[Candidate | None, Reason | None]:
    """Apply the K-vs-I rule to candidates that fit one budget. Returns (pick, why)."""
    if prefer == "k":
        return _best([c for c in pool if not _is_iquant(c)]), Reason("prefer_k", "K-quants and legacy types only")
    if prefer == "i":
        return _best([c for c in pool if _is_iquant(c)]), Reason("prefer_i", "I-quants only")
    if prefer == "any":
        return _best(pool), Reason("prefer_any", "every family ranked by quality")
    best_k = _best([c for c in pool if not _is_iquant(c)])
    if backend in IQUANT_BACKENDS:
        if best_k is None or _level(best_k) < 4:
            pick = _best(pool)
            if pick is not None and _is_iquant(pick):
                below = (
                    "no K-quant fits" if best_k is None else f"the best K-quant that fits ({best_k.label}) is below Q4"
                )
                return pick, Reason(
                    "iquant_below_q4", f"{below}; on {backend} I-quants give more quality for their size"
                )
            return pick, None
        return best_k, Reason("kquant_at_q4", f"K-quant: on {backend} I-quants compete only below Q4")
    if best_k is not None:
        return best_k, Reason("kquant_faster", f"K-quant: I-quants run slower than K-quants on {backend}")
    pick = _best(pool)
    if pick is not None:
        return pick, Reason(
            "iquant_only_fit", f"no K-quant fits; this I-quant runs slower than a K-quant would on {backend}"
        )
    return None, None


MAX_CPU_CACHE = 16 * GiB  # the largest CPU caches are ~1.1 GiB a socket (EPYC 9684X's 3D V-Cache)


def plausible_cache(size: int | None) -> int | None:
    """A CPU cache from a probe or a saved file is input too: one over 16 GiB is ignored."""
    return size if size and 0 < size <= MAX_CPU_CACHE else None


def _plausible(gbps: float | None) -> bool:
    """A bandwidth from a probe or a saved file is input too: one outside (0, 100000] GB/s is ignored."""
    return isinstance(gbps, (int, float)) and 0 < gbps <= 100_000


def bandwidths(hw: Hardware, budget: Budget, options: Options) -> tuple[tuple[float, str] | None, tuple[float, str]]:
    """(GPU bandwidth and its source or None without a GPU, RAM bandwidth and its source), in GB/s."""
    gpu: tuple[float, str] | None = None
    if budget.has_gpu:
        given = options.gpu_bandwidth_gbps
        probed = [g.bandwidth_gbps if _plausible(g.bandwidth_gbps) else None for g in hw.gpus]
        if given and len(given) > 1 and len(given) != len(hw.gpus):
            raise InvalidValue(
                "gpu_bandwidth",
                f"{len(given)} bandwidths for {len(hw.gpus)} GPU{'s' if len(hw.gpus) != 1 else ''}",
                hint="give one figure for all GPUs, or one per GPU in order, e.g. 1008,448",
            )
        if given:
            figures, source = list(given), "--gpu-bandwidth"
        elif probed and any(probed):
            default = DEFAULT_METAL_BANDWIDTH if hw.backend == "metal" else DEFAULT_GPU_BANDWIDTH
            figures = [float(b) if b else default for b in probed]
            given_sources = {g.bandwidth_source for g in hw.gpus if g.bandwidth_source and g.bandwidth_gbps}
            source = "; ".join(sorted(given_sources)) or "the probe (NVML: memory clock x bus width)"
            if not all(probed):
                source += f"; assumed {default:g} GB/s for the others: give --gpu-bandwidth"
        elif hw.backend == "metal":
            figures, source = [DEFAULT_METAL_BANDWIDTH], f"assumed {DEFAULT_METAL_BANDWIDTH:g} GB/s (Apple M2/M3)"
        else:
            figures = [DEFAULT_GPU_BANDWIDTH] * max(len(hw.gpus), 1)
            source = f"assumed {DEFAULT_GPU_BANDWIDTH:g} GB/s (an RTX 3060 12GB): give --gpu-bandwidth"
        budgets = [max(g.budget_bytes or 0, 1) for g in hw.gpus] or [1]
        if len(figures) == len(budgets) and len(figures) > 1:
            # layers are split in proportion to each GPU's budget and read one GPU after the other
            total = sum(budgets)
            gpu = (1 / sum(b / total / f for b, f in zip(budgets, figures, strict=True)), source)
        else:
            gpu = (figures[0], source)
    if options.ram_bandwidth_gbps:
        return gpu, (options.ram_bandwidth_gbps, "--ram-bandwidth")
    if _plausible(hw.ram.bandwidth_gbps) and hw.ram.bandwidth_gbps:
        return gpu, (hw.ram.bandwidth_gbps, hw.ram.bandwidth_source or "the saved hardware file")
    if gpu is not None and hw.backend == "metal":
        return gpu, (gpu[0], "unified memory: the GPU's bandwidth")
    return gpu, (
        DEFAULT_RAM_BANDWIDTH,
        f"assumed {DEFAULT_RAM_BANDWIDTH:g} GB/s (dual-channel DDR4-3200): give --ram-bandwidth",
    )


def evaluate(
    candidates: list[Candidate],
    hw: Hardware,
    budget: Budget,
    reserve: Reserve,
    shape: ModelShape | None,
    catalog: Catalog,
    options: Options | None = None,
) -> None:
    """Fill in each candidate's fit, placement, speed and reasons (in place)."""
    options = options or Options()
    gpu_bw, cpu_bw = bandwidths(hw, budget, options)
    floor = catalog.get(options.quality_floor) if options.quality_floor else None
    floor_loss = catalog.rank_figure(floor).loss if floor is not None else None
    kv_read = 0
    if shape is not None and reserve.source == "estimate":
        one = RunnerSettings(
            parallel=1, cache_type_k=options.runner.cache_type_k, cache_type_v=options.runner.cache_type_v
        )
        kv_read = kv_cache_bytes(shape, reserve.ctx, one)
    workers = sum(1 for g in hw.gpus if g.rpc)
    embd = (shape.embedding_length if shape is not None else None) or 4096
    network_seconds = options.network.seconds_per_token(workers, embd) if workers else 0.0
    for cand in candidates:
        quant = cand.quant
        if quant is not None and cand.loss is None:
            figure = catalog.rank_figure(quant)
            cand.loss, cand.loss_source = figure.loss, figure.provenance
        need = cand.size_bytes + reserve.total_bytes
        no_gpu_kernel = budget.has_gpu and quant is not None and hw.backend in quant.gpu_missing
        if no_gpu_kernel:
            cand.fits_speed, cand.fits_quality = False, need <= budget.usable_ram_bytes
        else:
            cand.fits_speed = budget.has_gpu and need <= budget.speed_bytes
            cand.fits_quality = need <= budget.quality_bytes
        arithmetic = (
            f"{format_size(cand.size_bytes)} + reserve {format_size(reserve.total_bytes)} = {format_size(need)}"
        )
        if not budget.has_gpu:
            cand.placement = "cpu" if cand.fits_quality else None
            if cand.fits_quality:
                cand.say("fits_ram", f"{arithmetic} vs RAM {format_size(budget.speed_bytes)}: fits RAM")
            else:
                cand.say("too_large", f"{arithmetic} vs RAM {format_size(budget.speed_bytes)}: too large for RAM")
        elif cand.fits_speed:
            cand.placement = "gpu"
            cand.say("fits_gpu", f"{arithmetic} <= GPU {format_size(budget.speed_bytes)}: fits GPU")
        elif cand.fits_quality:
            cand.placement = "cpu" if no_gpu_kernel else "gpu+cpu"
            cand.say(
                "fits_gpu_cpu",
                f"{arithmetic} > GPU {format_size(budget.speed_bytes)}, <= GPU+RAM {format_size(budget.quality_bytes)}",
            )
        else:
            cand.placement = None
            cand.say("too_large", f"{arithmetic} > GPU+RAM {format_size(budget.quality_bytes)}: too large")
        if no_gpu_kernel and quant is not None:
            cand.say("no_gpu_kernel", f"no {hw.backend} kernel for {quant.name}: runs on the CPU")
        cand.gpu_layers = _gpu_layers(cand, budget, reserve, shape)
        if cand.placement == "gpu+cpu" and shape is not None and not no_gpu_kernel:
            cand.cpu_moe_layers = _cpu_moe_layers(cand, budget, reserve, shape)
            if cand.cpu_moe_layers is not None:
                cand.gpu_layers = shape.block_count + 1
                cand.say(
                    "cpu_moe",
                    f"all layers on the GPU, the experts of the first {cand.cpu_moe_layers} layers in RAM"
                    f" (--n-cpu-moe {cand.cpu_moe_layers})",
                )
        cand.memory = memory_use(cand, hw, budget, reserve, shape)
        if cand.placement in ("gpu", "gpu+cpu") and len(hw.gpus) > 1:
            cand.tensor_split = tensor_split(hw)
        cand.below_floor = floor_loss is not None and cand.loss is not None and cand.loss >= floor_loss
        if cand.fits:
            share = 1.0 if cand.placement == "gpu" else 0.0
            if cand.placement == "gpu+cpu" and cand.gpu_layers is not None and shape is not None:
                share = min(cand.gpu_layers / (shape.block_count + 1), 1.0)
            elif cand.placement == "gpu+cpu":
                share = min(budget.speed_bytes / max(cand.size_bytes + reserve.total_bytes, 1), 1.0)
            cand.speed = estimate_speed(
                cand.size_bytes,
                shape,
                kv_read,
                share,
                gpu_bw if cand.placement != "cpu" else None,
                cpu_bw,
                quant,
                hw.backend,
                expert_layers_on_cpu=cand.cpu_moe_layers or 0,
                cpu_cores=hw.cpu.physical_cores or hw.cpu.logical_cores,
                cpu_cache_bytes=plausible_cache(hw.cpu.cache_bytes),
                network_seconds=network_seconds,
            )


def memory_use(cand: Candidate, hw: Hardware, budget: Budget, reserve: Reserve, shape: ModelShape | None) -> MemoryUse:
    """The candidate's memory by part and by device, following its placement."""
    weights = cand.size_bytes
    total = weights + reserve.total_bytes
    layers = shape.block_count if shape is not None else None
    if cand.placement == "gpu":
        on_gpu_weights, kv_share = weights, 1.0
    elif cand.placement == "gpu+cpu" and cand.gpu_layers is not None and layers:
        on_gpu_weights = weights * cand.gpu_layers // (layers + 1)
        kv_share = min(cand.gpu_layers, layers) / layers
    elif cand.placement == "gpu+cpu":
        on_gpu_weights, kv_share = min(weights, budget.speed_bytes), 0.0
    else:
        on_gpu_weights, kv_share = 0, 0.0
    devices: tuple[tuple[str, int], ...]
    if on_gpu_weights and reserve.kv_cache_bytes is not None:
        gpu = on_gpu_weights + int((reserve.kv_cache_bytes or 0) * kv_share) + (reserve.compute_bytes or 0)
        gpu += reserve.gpu_runtime_bytes
        devices = (("gpu", gpu), ("cpu", total - gpu))
    elif on_gpu_weights:
        devices = (("gpu", on_gpu_weights), ("cpu", total - on_gpu_weights))
    else:
        devices = (("cpu", total),)
    repack = 0
    if cand.quant is not None and cand.placement is not None and cand.quant.repacks_on(hw.cpu.flags):
        # The token embedding stays mapped (llama.cpp looks rows up in it, which repacked layouts cannot serve).
        embedding = 0
        if shape is not None and shape.vocab_size and shape.embedding_length:
            bpw = cand.quant.bpw_effective or cand.quant.bpw_nominal or 0
            embedding = int(shape.vocab_size * shape.embedding_length * bpw / 8)
        repack = max(weights - on_gpu_weights - embedding, 0)
    return MemoryUse(
        weights,
        repack,
        reserve.kv_cache_bytes,
        reserve.compute_bytes,
        reserve.output_bytes,
        reserve.runtime_bytes,
        total,
        devices,
    )


def tensor_split(hw: Hardware) -> tuple[float, ...]:
    """llama.cpp's -ts ratios: each GPU's budget in GiB to 0.1 (at least 0.1), so layers follow the memory."""
    return tuple(max(round((g.budget_bytes or 0) / GiB, 1), 0.1) for g in hw.gpus)


def _cpu_moe_layers(cand: Candidate, budget: Budget, reserve: Reserve, shape: ModelShape) -> int | None:
    """The smallest N for --n-cpu-moe N with everything else on the GPU, or None (not an MoE, or even N = all
    layers does not fit)."""
    if not shape.is_moe or not shape.expert_feed_forward_length:
        return None
    _, expert_fraction = active_fraction(shape)
    moe_layers = shape.block_count - min(shape.leading_dense_block_count or 0, shape.block_count)
    if moe_layers <= 0 or expert_fraction <= 0:
        return None
    per_layer = cand.size_bytes * expert_fraction / moe_layers
    need = cand.size_bytes + reserve.total_bytes - (reserve.output_bytes or 0) - (reserve.runtime_bytes or 0)
    need += reserve.gpu_runtime_bytes
    missing = need - budget.speed_bytes
    if missing <= 0:
        return 0
    layers = -(-int(missing) // max(int(per_layer), 1))
    return layers if layers <= moe_layers else None


def _gpu_layers(cand: Candidate, budget: Budget, reserve: Reserve, shape: ModelShape | None) -> int | None:
    if cand.placement in (None, "cpu") or not budget.has_gpu:
        return 0 if cand.placement == "cpu" else None
    if shape is None:
        return None if cand.placement == "gpu+cpu" else 99
    layers = shape.block_count
    if cand.placement == "gpu":
        return layers + 1  # every repeating layer plus the output layer
    kv_per_layer = (reserve.kv_cache_bytes or 0) / layers
    per_layer = cand.size_bytes / (layers + 1) + kv_per_layer
    room = budget.speed_bytes - (reserve.overhead_bytes if reserve.overhead_bytes is not None else reserve.total_bytes)
    return max(0, min(layers, int(room // per_layer))) if per_layer > 0 else 0


def recommend(
    hw: Hardware,
    parsed: ParsedRepo,
    shape: ModelShape | None,
    catalog: Catalog,
    options: Options,
    *,
    repo: str | None = None,
) -> Recommendation:
    """Pick the quant of `parsed` for `hw`; raise NoFitError when nothing fits, UsageError for an unknown quant."""
    ctx = options.context_for(shape)
    budget = compute_budget(hw)
    reserve = estimate_reserve(
        shape, ctx, options.reserve_bytes, options.runner, _gpu_backend(hw, budget), max(len(hw.gpus), 1)
    )
    candidates = [Candidate(g.label, g.quant, g.size_bytes, g) for g in parsed.quants]
    for cand, group in zip(candidates, parsed.quants, strict=True):
        _check_eligible(cand, group, explicit=options.quant)
    evaluate(candidates, hw, budget, reserve, shape, catalog, options)
    notes: list[Reason] = []
    if reserve.source == "default":
        notes.append(
            Reason(
                "shape_unknown",
                "the model header could not be read: reserve is 2 GiB, the top of the model cards' band",
            )
        )
    trained = shape.context_length if shape is not None else None
    if trained and ctx > trained:
        notes.append(
            Reason(
                "ctx_beyond_trained",
                f"a context of {ctx} tokens is longer than the model's trained context ({trained}): "
                "output may degrade past it unless the model card says how to extend it",
            )
        )
    elif options.ctx is None and ctx < DEFAULT_CTX:
        notes.append(Reason("ctx_trained", f"context {ctx}: the model's trained context, below the default 8192"))

    if options.quant is not None:
        chosen = next(
            (c for c, g in zip(candidates, parsed.quants, strict=True) if label_matches(g, options.quant)), None
        )
        if chosen is None:
            have = ", ".join(g.label for g in parsed.quants) or "none"
            raise UsageError(
                f"{repo or 'the repo'} has no quant {options.quant!r}",
                hint=f"available: {have}",
                code="quant_not_found",
            )
        if chosen.placement is None:
            raise _no_fit([chosen], budget, reserve, shape, options)
        chosen.reasons.insert(0, Reason("chosen", "chosen by name"))
        _add_pick_notes(chosen, hw, candidates, shape, notes)
        chosen_mode: BudgetMode = "speed" if chosen.placement == "gpu" else "quality"
        return Recommendation(budget, reserve, chosen_mode, chosen, candidates, [], notes, decision_for(options))

    eligible = [c for c in candidates if c.eligible]
    fitting = [c for c in eligible if c.fits]
    if options.prefer in ("k", "i"):
        fitting = [c for c in fitting if _is_iquant(c) == (options.prefer == "i")]
    if not fitting:
        pool = eligible or candidates
        if options.prefer in ("k", "i"):
            wanted = [c for c in pool if _is_iquant(c) == (options.prefer == "i")]
            pool = wanted or pool
        raise _no_fit(pool, budget, reserve, shape, options, mode="quality")
    pick, rule, pool = decide(fitting, options, notes, options.min_speed)
    if options.prefer in ("k", "i"):
        pick.reasons.insert(
            0,
            Reason(
                f"prefer_{options.prefer}",
                "K-quants and legacy types only" if options.prefer == "k" else "I-quants only",
            ),
        )
    pick.reasons.insert(0, rule)
    if pick.quant is not None and pick.quant.is_variant:
        pick.say("variant", pick.quant.description or f"variant of {pick.quant.base}")
    runners = sorted((c for c in pool if c is not pick), key=_rank_key)[:3]
    _add_pick_notes(pick, hw, candidates, shape, notes)
    mode: BudgetMode = "speed" if pick.placement == "gpu" or not budget.has_gpu else "quality"
    if pick.placement == "gpu+cpu":
        notes.append(Reason("split", "the pick does not fit in GPU memory alone: the model is split with RAM"))
    return Recommendation(budget, reserve, mode, pick, candidates, runners, notes, decision_for(options))


def decision_for(options: Options) -> Decision:
    min_speed = options.min_speed
    rules = {
        "auto": f"the best quality whose estimated generation speed is at least {min_speed:g} tokens/s (the faster"
        f" one twice as fast at a lossless KLD <= {LOSSLESS_LOSS:g}); if none is, the fastest",
        "speed": "the fastest",
        "quality": "the best quality that fits",
    }
    floor = f", never {options.quality_floor} or worse while something better fits" if options.quality_floor else ""
    return Decision(options.mode, min_speed, options.quality_floor, rules[options.mode] + floor)


def _tps(cand: Candidate) -> float:
    return cand.speed.generation_tokens_per_second if cand.speed is not None else 0.0


def _fastest(pool: list[Candidate]) -> Candidate:
    return max(pool, key=lambda c: (_tps(c), -_rank_key(c)[0]))


def _describe(cand: Candidate) -> str:
    where = {"gpu": "all-GPU", "gpu+cpu": "split", "cpu": "CPU"}.get(cand.placement or "", "")
    loss = f"KLD {cand.loss:.3g}" if cand.loss is not None else "loss unknown"
    return f"{cand.label} {where}: ~{_tps(cand):.0f} tok/s, {loss}"


def decide(
    fitting: list[Candidate], options: Options, notes: list[Reason], min_speed: float
) -> tuple[Candidate, Reason, list[Candidate]]:
    """The pick among candidates that fit: (pick, the rule that chose it with its trade-off, the pool)."""
    above = [c for c in fitting if not c.below_floor]
    pool = above or fitting
    if not above and options.quality_floor:
        notes.append(
            Reason("below_floor", f"nothing above the quality floor ({options.quality_floor}) fits: picked below it")
        )
    best = _best(pool)
    assert best is not None
    if options.mode == "quality":
        pick, code, why = best, "best_quality", f"best quality that fits: {best.loss_source}"
    elif options.mode == "speed":
        pick = _fastest(pool)
        code, why = "fastest", f"the fastest above the quality floor: ~{_tps(pick):.0f} tok/s"
    else:
        fast = [c for c in pool if _tps(c) >= min_speed]
        if fast:
            pick = _best(fast) or best
            lossless = [c for c in fast if c.loss is not None and c.loss <= LOSSLESS_LOSS]
            quick = [c for c in lossless if _tps(c) >= LOSSLESS_SPEEDUP * _tps(pick)]
            if pick in lossless and quick:
                pick = _best(quick) or pick
            code, why = "best_quality_at_speed", (f"best quality at >= {min_speed:g} tok/s: {pick.loss_source}")
        else:
            pick = _fastest(pool)
            code, why = (
                "too_slow_fastest",
                (f"nothing reaches {min_speed:g} tok/s: the fastest above the quality floor"),
            )
            notes.append(Reason("below_min_speed", f"no candidate reaches {min_speed:g} tok/s (estimated)"))
    others = [c for c in pool if c is not pick]
    if others:
        faster = [c for c in others if _tps(c) > _tps(pick)]
        rival = _best(faster) if faster else _best(others)
        if rival is not None:
            why += f" ({_describe(pick)}; {_describe(rival)})"
    return pick, Reason(code, why), pool


def _gpu_backend(hw: Hardware, budget: Budget) -> Backend | None:
    return hw.backend if budget.has_gpu and hw.backend != "cpu" else None


def label_matches(group: QuantGroup, wanted: str) -> bool:
    wanted = wanted.upper()
    names = {group.label.upper()}
    if group.quant is not None:
        names.update(a.upper() for a in group.quant.aliases)
    return wanted in names


def _check_eligible(cand: Candidate, group: QuantGroup, *, explicit: str | None) -> None:
    quant = group.quant
    chosen = explicit is not None and label_matches(group, explicit)
    problems: list[Reason] = []
    if quant is None:
        problems.append(Reason("unknown_type", "unknown quant type: not in the catalog, not ranked"))
    elif not quant.loadable:
        problems.append(
            Reason("removed_type", f"{quant.name} was removed from llama.cpp: current builds cannot load it")
        )
    elif quant.is_float and not chosen:
        problems.append(
            Reason(
                "full_precision",
                "full precision: never picked automatically (Q8_0 is practically lossless at half the size)",
            )
        )
    if not group.complete:
        problems.append(
            Reason(
                "incomplete_split", f"incomplete split set: {len(group.files)} of {group.shard_total} files in the repo"
            )
        )
    if group.split_style == "concat" and not chosen:
        problems.append(
            Reason(
                "concat_split",
                "old-style split: the parts must be concatenated (cat) before llama.cpp can load them",
            )
        )
    if problems:
        cand.eligible = chosen and quant is not None and quant.loadable and group.complete
        cand.reasons.extend(problems)


def _add_pick_notes(
    pick: Candidate, hw: Hardware, candidates: list[Candidate], shape: ModelShape | None, notes: list[Reason]
) -> None:
    if pick.placement == "gpu+cpu":
        if pick.cpu_moe_layers is not None:
            pass  # the cpu_moe reason already says where everything goes
        elif pick.gpu_layers is not None and shape is not None:
            pick.say("gpu_layers", f"offload {pick.gpu_layers} of {shape.block_count} layers to the GPU (-ngl)")
        else:
            pick.say(
                "gpu_layers_unknown",
                "layer count unknown: let llama.cpp fit the layers (--fit on) or try -ngl by hand",
            )
        if shape is not None and shape.is_moe and pick.cpu_moe_layers is None:
            pick.say(
                "moe_offload",
                f"MoE model ({shape.expert_count} experts) whose expert sizes the header does not give: instead of"
                " a layer split, try all layers on the GPU with the experts in RAM (-ngl 99 --n-cpu-moe N)",
            )
    if pick.placement in ("cpu", "gpu+cpu"):
        _add_repack_note(pick, hw, candidates, notes)
    if pick.placement in ("cpu", "gpu+cpu") and hw.ram.available_bytes:
        ram_part = pick.size_bytes if pick.placement == "cpu" else 0
        if ram_part > hw.ram.available_bytes:
            notes.append(
                Reason(
                    "ram_busy",
                    f"only {format_size(hw.ram.available_bytes)} of RAM is free right now: close programs first",
                )
            )
    # The budget is what the cards can hold; what other programs hold right now is only worth a note.
    free = [g.free_bytes for g in hw.gpus if not g.unified]
    if pick.placement == "gpu" and free and all(f is not None for f in free):
        free_total = sum(f for f in free if f is not None)
        if pick.size_bytes > free_total:
            notes.append(
                Reason(
                    "gpu_busy",
                    f"only {format_size(free_total)} of GPU memory is free right now: other programs use the rest",
                )
            )


def _add_repack_note(pick: Candidate, hw: Hardware, candidates: list[Candidate], notes: list[Reason]) -> None:
    """Weights kept in RAM are repacked at load time for the types the catalog's `cpu_repack` lists."""
    if pick.quant is None:
        return
    features = pick.quant.repacks_on(hw.cpu.flags)
    if features:
        notes.append(
            Reason(
                "cpu_repack",
                f"{pick.label} is repacked online on this CPU ({', '.join(features)}): "
                "faster prompt processing for the weights kept in RAM",
            )
        )
        return
    same_level = [
        c.label
        for c in candidates
        if c.eligible
        and c.fits
        and c.quant is not None
        and c.quant.level == pick.quant.level
        and c.quant.repacks_on(hw.cpu.flags)
    ]
    if same_level:
        notes.append(
            Reason(
                "cpu_repack_alternative",
                f"{' and '.join(same_level)} in this repo are repacked online on this CPU: "
                "faster prompt processing at similar size",
            )
        )


def _no_fit(
    pool: list[Candidate],
    budget: Budget,
    reserve: Reserve,
    shape: ModelShape | None,
    options: Options,
    mode: BudgetMode | Mode = "auto",
) -> NoFitError:
    """Nothing fits: what the smallest candidate needs, and (in details) the context or memory that would fit."""
    if not pool:
        return NoFitError(
            "the repo has no quant quantpick can recommend",
            code="no_candidates",
            hint="see `quantpick list REPO` for what it holds",
        )
    smallest = min(pool, key=lambda c: c.size_bytes)
    limit = budget.speed_bytes if mode == "speed" else budget.quality_bytes
    where = "GPU memory" if mode == "speed" and budget.has_gpu else ("GPU + RAM" if budget.has_gpu else "RAM")
    need = smallest.size_bytes + reserve.total_bytes
    message = (
        f"nothing fits: the smallest quant, {smallest.label}, needs {format_size(need)} "
        f"({format_size(smallest.size_bytes)} + reserve {format_size(reserve.total_bytes)}), "
        f"{where} holds {format_size(limit)}"
    )
    fitting_ctx: int | None = None
    if shape is not None and reserve.source == "estimate":
        room = limit - smallest.size_bytes - (reserve.output_bytes or 0) - (reserve.runtime_bytes or 0)
        wanted = options.context_for(shape)
        ceiling = min(wanted, shape.context_length) if shape.context_length else wanted
        ctx = max_context_within(shape, room, ceiling, options.runner) if room > 0 else 0
        if CELL_PADDING <= ctx < wanted:
            fitting_ctx = ctx  # never past the model's trained context
    hints = []
    if fitting_ctx is not None and shape is not None:
        hints.append(
            f"a context of {fitting_ctx} tokens would fit"
            f" (KV {format_size(kv_cache_bytes(shape, fitting_ctx, options.runner))},"
            f" compute {format_size(compute_bytes(shape, fitting_ctx, options.runner))})"
        )
    hints.append(f"{format_size(need - limit)} more memory would fit it")
    if mode == "speed":
        hints.append("splitting the model between GPU and RAM (quality mode) may fit it")
    details = {
        "smallest": smallest.label,
        "need_bytes": need,
        "budget_bytes": limit,
        "mode": mode,
        "fitting_ctx": fitting_ctx,
        "missing_bytes": need - limit,
    }
    return NoFitError(message, hint="; ".join(hints), details=details)


# --- without a repo: common model sizes, sizes estimated from the catalog's bpw ---------------------------

# Typical dense shapes per size class (Llama-3.2-1B/3B, Llama-3-8B, Qwen2.5-14B/32B, Llama-3-70B), used
# for the KV cache when no header is at hand.
REFERENCE_SHAPES = {
    1.0: ModelShape("llama", 16, 2048, 131072, 32, 8, 64, 64, vocab_size=128256),
    3.0: ModelShape("llama", 28, 3072, 131072, 24, 8, 128, 128, vocab_size=128256),
    8.0: ModelShape("llama", 32, 4096, 8192, 32, 8, 128, 128, vocab_size=128256),
    14.0: ModelShape("qwen2", 48, 5120, 32768, 40, 8, 128, 128, vocab_size=152064),
    32.0: ModelShape("qwen2", 64, 5120, 32768, 40, 8, 128, 128, vocab_size=152064),
    70.0: ModelShape("llama", 80, 8192, 8192, 64, 8, 128, 128, vocab_size=128256),
}
COMMON_SIZES = (1.0, 3.0, 8.0, 14.0, 32.0, 70.0)


@dataclass
class SizePlan:
    params_billions: float
    reference_shape: str
    reserve: Reserve
    speed: Candidate | None
    quality: Candidate | None
    label: str = ""  # "8B", or "30B-A3B" for the MoE row
    pick: Candidate | None = None  # the auto decision, as for a repo


# An MoE row beside the dense sizes: Qwen3-30B-A3B's shape (30.5B parameters, 3.3B active per token).
MOE_REFERENCE = (
    "30B-A3B",
    30.5,
    ModelShape(
        "qwen3moe",
        48,
        2048,
        40960,
        32,
        4,
        128,
        128,
        expert_count=128,
        expert_used_count=8,
        vocab_size=151936,
        feed_forward_length=6144,
        expert_feed_forward_length=768,
    ),
)


def best_size(plans: list[SizePlan], min_speed: float) -> SizePlan | None:
    """The largest model whose auto pick reaches the speed target (a larger model at the same speed knows more)."""
    fast = [p for p in plans if p.pick is not None and _tps(p.pick) >= min_speed]
    return max(fast, key=lambda p: p.params_billions) if fast else None


def reference_shape(params_billions: float) -> tuple[float, ModelShape]:
    larger = [size for size in REFERENCE_SHAPES if size >= params_billions]
    size = min(larger) if larger else max(REFERENCE_SHAPES)
    return size, REFERENCE_SHAPES[size]


def plan_without_repo(
    hw: Hardware, catalog: Catalog, options: Options, sizes: tuple[float, ...] = COMMON_SIZES
) -> tuple[Budget, list[SizePlan]]:
    """For each model size, the best quant type that fits each budget (sizes estimated from bpw)."""
    budget = compute_budget(hw)
    types = [
        q
        for q in catalog.types.values()
        if q.loadable
        and not q.is_variant
        and not q.is_float
        and q.family in ("k", "legacy", "i")
        and (q.bpw_effective or q.bpw_nominal)
    ]
    plans = []
    rows: list[tuple[str, float, str, ModelShape]] = []
    for params in sizes:
        ref_size, shape = reference_shape(params)
        rows.append((f"{params:g}B", params, f"{ref_size:g}B reference", shape))
    moe_label, moe_params, moe_shape = MOE_REFERENCE
    rows.append((moe_label, moe_params, "Qwen3-30B-A3B shape (MoE)", moe_shape))
    for label, params, reference, shape in rows:
        reserve = estimate_reserve(
            shape,
            options.ctx or DEFAULT_CTX,
            options.reserve_bytes,
            options.runner,
            _gpu_backend(hw, budget),
            max(len(hw.gpus), 1),
        )
        candidates = []
        for quant in types:
            bpw = quant.bpw_effective or quant.bpw_nominal
            cand = Candidate(quant.name, quant, int(params * 1e9 * bpw / 8))
            cand.say("estimated_size", f"~{bpw:g} bpw x {params:g}B parameters ({quant.bpw_source})")
            candidates.append(cand)
        evaluate(candidates, hw, budget, reserve, shape, catalog, options)
        above = [c for c in candidates if not c.below_floor]  # never offered below the quality floor
        speed = None
        if budget.has_gpu:
            speed, _ = _choose([c for c in above if c.fits_speed], options.prefer, hw.backend)
        quality, _ = _choose([c for c in above if c.fits_quality], options.prefer, hw.backend)
        fitting = [c for c in above if c.fits]
        if options.prefer in ("k", "i"):
            fitting = [c for c in fitting if _is_iquant(c) == (options.prefer == "i")]
        choice = decide(fitting, options, [], options.min_speed)[0] if fitting else None
        plans.append(SizePlan(params, reference, reserve, speed, quality, label, choice))
    return budget, plans


# --- several machines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceShare:
    device: str  # "rpc HOST:PORT", a local GPU's name, or "cpu" (the head's RAM)
    host: str  # the worker's address, or "head"
    bytes: int
    layers: int


def layer_devices(layers: int, gpu_layers: int, split: list[float]) -> list[int | None]:
    """The device of each repeating layer and then of the output layer (None: the CPU), as llama.cpp assigns
    them (src/llama-model.cpp: upper_bound of the cumulative split at (layer - first offloaded) / offloaded)."""
    total = sum(split) or 1.0
    points, running = [], 0.0
    for share in split:
        running += share
        points.append(running / total)
    first = max(layers + 1 - gpu_layers, 0)
    active = min(gpu_layers, layers + 1) if split else 0
    devices: list[int | None] = []
    for layer in range(layers + 1):
        if layer < first or layer - first >= active:
            devices.append(None)
            continue
        where = (layer - first) / active
        devices.append(min(next((i for i, p in enumerate(points) if p > where), len(points) - 1), len(points) - 1))
    return devices


def device_shares(
    cand: Candidate, hw: Hardware, reserve: Reserve, shape: ModelShape | None, runner: RunnerSettings
) -> list[DeviceShare]:
    """Where the pick's memory goes, device by device: each layer's weights and KV cache on the device llama.cpp
    gives it by -ts, each device's own compute buffer (memory.device_compute_bytes), the token embedding and the
    head's compute buffer on the head's CPU."""
    if cand.memory is None or shape is None or not hw.gpus:
        return []
    layers = shape.block_count
    split = list(cand.tensor_split or [max(g.budget_bytes or 0, 1) for g in hw.gpus])
    placed = layer_devices(layers, cand.gpu_layers if cand.gpu_layers is not None else 0, split)
    bpw = cand.size_bytes * 8 / max(parameter_count(shape, cand.size_bytes, None), 1)
    embedding = (shape.vocab_size or 0) * (shape.embedding_length or 0) * bpw / 8
    output = (shape.vocab_size or 0) * (shape.embedding_length or 0) * max(bpw, 6.5625) / 8  # Q6_K or better
    per_layer = max(cand.size_bytes - embedding - output, 0) / max(layers, 1)
    kv_per_layer = (reserve.kv_cache_bytes or 0) / max(layers, 1)
    sizes = [0.0] * len(hw.gpus)
    counts = [0] * len(hw.gpus)
    cpu = embedding + (reserve.output_bytes or 0) + (reserve.runtime_bytes or 0) - reserve.gpu_runtime_bytes
    for layer, device in enumerate(placed):
        weights = output if layer == layers else per_layer
        kv = 0.0 if layer == layers else kv_per_layer
        if device is None:
            cpu += weights + kv
            continue
        sizes[device] += weights + kv
        counts[device] += layer < layers
    used = {d for d in placed if d is not None}
    pipeline = runs_as_pipeline(len(used), None not in placed, bool(cand.cpu_moe_layers))
    ctx = reserve.ctx

    def holds(device: int | None) -> DeviceLayers:
        mine = [i for i, d in enumerate(placed) if d == device]
        return DeviceLayers(0 in mine, sum(1 for i in mine if i < layers), layers - 1 in mine, layers in mine)

    if None in placed:
        # the CPU runs the first layers: their peak, plus the merged embeddings it keeps as a graph input
        cpu += 4 * (shape.embedding_length or 0) * runner.micro_batch(ctx)
        cpu += device_compute_bytes(shape, ctx, runner, holds(None), pipeline=False)
    else:
        cpu += head_compute_bytes(shape, ctx, runner, pipeline=pipeline)
    per_device_runtime = reserve.gpu_runtime_bytes // max(len(hw.gpus), 1)
    shares = [
        DeviceShare(
            gpu.name,
            gpu.rpc or "head",
            int(size + (device_compute_bytes(shape, ctx, runner, holds(i), pipeline=pipeline) if i in used else 0))
            + per_device_runtime,
            count,
        )
        for i, (gpu, size, count) in enumerate(zip(hw.gpus, sizes, counts, strict=True))
    ]
    shares.append(DeviceShare("cpu", "head", int(cpu), sum(1 for d in placed[:layers] if d is None)))
    return shares
