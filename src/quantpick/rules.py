"""The rules: which quant to take for this machine, with a reason for every verdict.

One pure function, `recommend`, of (hardware, parsed repo, model shape, catalog, options). No I/O, no
environment, no clock. The README's "The rules" section describes the same steps in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quantpick.catalog import Catalog, QuantType
from quantpick.errors import InvalidValue, NoFitError, UsageError
from quantpick.gguf import ModelShape
from quantpick.hardware import Hardware
from quantpick.memory import (
    CELL_PADDING,
    Reserve,
    RunnerSettings,
    compute_bytes,
    estimate_reserve,
    kv_cache_bytes,
    max_context_within,
)
from quantpick.naming import ParsedRepo, QuantGroup
from quantpick.sizes import format_size
from quantpick.states import MODES, PREFERENCES, Backend, BudgetMode, Mode, Placement, Preference, Verdict

IQUANT_BACKENDS: tuple[Backend, ...] = ("cuda", "rocm")  # I-quants give more quality per byte below Q4 there
DEFAULT_CTX = 8192  # the context planned for when none is given (clamped to the model's trained context)
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


def _rank_key(candidate: Candidate) -> tuple[float, int, int]:
    # Lower measured loss first; an uploader variant (_L, _XL, UD-) just above its base; then the smaller file.
    is_variant = bool(candidate.quant and candidate.quant.is_variant)
    loss = candidate.loss if candidate.loss is not None else float("inf")
    return (loss, 0 if is_variant else 1, candidate.size_bytes)


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


def evaluate(
    candidates: list[Candidate],
    hw: Hardware,
    budget: Budget,
    reserve: Reserve,
    shape: ModelShape | None,
    catalog: Catalog,
) -> None:
    """Fill in each candidate's fit, placement and reasons (in place)."""
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
        cand.memory = memory_use(cand, hw, budget, reserve, shape)


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
    reserve = estimate_reserve(shape, ctx, options.reserve_bytes, options.runner, _gpu_backend(hw, budget))
    candidates = [Candidate(g.label, g.quant, g.size_bytes, g) for g in parsed.quants]
    for cand, group in zip(candidates, parsed.quants, strict=True):
        _check_eligible(cand, group, explicit=options.quant)
    evaluate(candidates, hw, budget, reserve, shape, catalog)
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
        mode: BudgetMode = "speed" if chosen.placement == "gpu" else "quality"
        return Recommendation(budget, reserve, mode, chosen, candidates, [], notes)

    eligible = [c for c in candidates if c.eligible]
    speed_pool = [c for c in eligible if c.fits_speed] if budget.has_gpu else [c for c in eligible if c.fits_quality]
    quality_pool = [c for c in eligible if c.fits_quality]
    if options.mode == "quality":
        (pick, why), mode = _choose(quality_pool, options.prefer, hw.backend), "quality"
    else:
        (pick, why), mode = _choose(speed_pool, options.prefer, hw.backend), "speed"
        if pick is None and options.mode == "auto":
            (pick, why), mode = _choose(quality_pool, options.prefer, hw.backend), "quality"
            if pick is not None and budget.has_gpu:
                notes.append(
                    Reason("split", "nothing fits in GPU memory alone: picked within GPU + RAM (the model is split)")
                )
    if pick is None:
        pool = eligible or candidates
        if options.prefer in ("k", "i"):
            wanted = [c for c in pool if _is_iquant(c) == (options.prefer == "i")]
            pool = wanted or pool
        raise _no_fit(pool, budget, reserve, shape, options, mode=mode)
    budget_name = "GPU" if mode == "speed" and budget.has_gpu else ("GPU+RAM" if budget.has_gpu else "RAM")
    pick.reasons.insert(0, Reason("best_quality", f"best quality that fits {budget_name}: {pick.loss_source}"))
    if why:
        pick.reasons.insert(1, why)
    if pick.quant is not None and pick.quant.is_variant:
        pick.say("variant", pick.quant.description or f"variant of {pick.quant.base}")
    pool = speed_pool if mode == "speed" else quality_pool
    runners = sorted((c for c in pool if c is not pick), key=_rank_key)[:3]
    _add_pick_notes(pick, hw, candidates, shape, notes)
    return Recommendation(budget, reserve, mode, pick, candidates, runners, notes)


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
        if pick.gpu_layers is not None and shape is not None:
            pick.say("gpu_layers", f"offload {pick.gpu_layers} of {shape.block_count} layers to the GPU (-ngl)")
        else:
            pick.say(
                "gpu_layers_unknown",
                "layer count unknown: let llama.cpp fit the layers (--fit on) or try -ngl by hand",
            )
        if shape is not None and shape.is_moe:
            pick.say(
                "moe_offload",
                f"MoE model ({shape.expert_count} experts): keep expert tensors on the CPU "
                "(--n-cpu-moe N or -ot exps=CPU) so attention and the KV cache stay on the GPU",
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
    for params in sizes:
        ref_size, shape = reference_shape(params)
        reserve = estimate_reserve(
            shape, options.ctx or DEFAULT_CTX, options.reserve_bytes, options.runner, _gpu_backend(hw, budget)
        )
        candidates = []
        for quant in types:
            bpw = quant.bpw_effective or quant.bpw_nominal
            cand = Candidate(quant.name, quant, int(params * 1e9 * bpw / 8))
            cand.say("estimated_size", f"~{bpw:g} bpw x {params:g}B parameters ({quant.bpw_source})")
            candidates.append(cand)
        evaluate(candidates, hw, budget, reserve, shape, catalog)
        speed = None
        if budget.has_gpu:
            speed, _ = _choose([c for c in candidates if c.fits_speed], options.prefer, hw.backend)
        quality, _ = _choose([c for c in candidates if c.fits_quality], options.prefer, hw.backend)
        plans.append(SizePlan(params, f"{ref_size:g}B reference", reserve, speed, quality))
    return budget, plans
