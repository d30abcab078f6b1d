"""Memory a model needs besides its weights, as llama.cpp b11434 allocates it: KV cache (or recurrent state),
compute buffer, output buffer and the runtime outside those buffers.

Pure arithmetic on a ModelShape and the runner's settings. Every formula was checked against the buffers a real
llama.cpp logs (bench/accuracy, results in bench/accuracy/results.md); the README section "How the memory
estimate is made" walks through them with their sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quantpick.errors import InvalidValue
from quantpick.gguf import ModelShape
from quantpick.sizes import GiB, MiB
from quantpick.states import FLASH_ATTN, Backend, FlashAttn, ReserveSource

CELL_PADDING = 256  # llama.cpp pads every KV stream to a multiple of 256 cells (llama-context.cpp)
DEFAULT_UBATCH = 512  # llama-server's -ub
DEFAULT_BATCH = 2048  # llama-server's -b; the micro-batch never exceeds it
AUTO_SLOTS = 4  # llama-server's -np auto: 4 slots sharing one unified KV cache (tools/server/server.cpp)
MAX_SLOTS = 256
MAX_UBATCH = 1 << 16
DEFAULT_VOCAB = 128 * 1024  # logits size when the header gave no vocabulary
UNKNOWN_SHAPE_RESERVE = 2 * GiB  # the top of the model cards' "1-2 GB smaller" band

# Bytes per cached element (ggml block size / elements per block, ggml.c type traits).
CACHE_TYPE_BYTES: dict[str, float] = {
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}

# Outside the logged buffers, measured with bench/accuracy's probe on the CPU backend (VmRSS before and after
# loading and context creation): the process and its libraries (6.5 MiB), the model's metadata (1.3 MiB plus
# 131 bytes per vocabulary token, the vocabulary's strings and maps) and the context's graph metadata
# (2.3-6.1 MiB measured, 6 MiB kept); each slot past the first adds about 4.4 bytes per vocabulary token
# (1.1-1.3 MiB per slot for the 256k vocabularies, bench/accuracy/results.md), 4 kept.
CPU_RUNTIME_BASE = 14 * MiB
RUNTIME_BYTES_PER_TOKEN = 131
RUNTIME_BYTES_PER_TOKEN_PER_SLOT = 4
# A GPU backend's own context, per device. CUDA: about 330 MiB measured under llama-server
# (unslothai/unsloth#6718), in line with NVIDIA's ~300 MB for a context with lazy module loading
# (pytorch/pytorch#107667). Others have no figure we can cite: llama.cpp's own --fit keeps 1 GiB free per
# device (common/common.h, fit_params_target), and quantpick keeps the same.
GPU_RUNTIME: dict[Backend, int] = {"cuda": 330 * MiB, "rocm": GiB, "vulkan": GiB, "metal": GiB}

# Every n-th layer attends globally, the others through a sliding window (llama-model.cpp set_swa_pattern).
SWA_PATTERN_BY_ARCH = {
    "gemma2": 2,
    "gemma3": 6,
    "gemma3n": 5,
    "cohere2": 4,
    "llama4": 4,
    "gpt-oss": 2,
    "exaone4": 4,
    "smallthinker": 4,
}
SWA_WINDOW_BY_ARCH = {"gemma2": 4096, "llama4": 8192, "exaone4": 4096, "smallthinker": 4096}


@dataclass(frozen=True)
class RunnerSettings:
    """llama-server's settings that size its memory. The defaults are llama-server's own."""

    parallel: int | None = None  # -np; None is llama-server's auto: AUTO_SLOTS slots, unified KV
    kv_unified: bool | None = None  # --kv-unified; None: unified under auto slots, separate streams for -np N
    flash_attn: FlashAttn = "auto"  # -fa; auto turns itself on wherever the backend has the kernel
    ubatch: int = DEFAULT_UBATCH  # -ub
    cache_type_k: str = "f16"  # -ctk
    cache_type_v: str = "f16"  # -ctv

    def __post_init__(self) -> None:
        if self.parallel is not None and not 1 <= self.parallel <= MAX_SLOTS:
            raise InvalidValue("parallel", f"slots must be 1 to {MAX_SLOTS}, got {self.parallel}", hint="e.g. 1 or 4")
        if self.flash_attn not in FLASH_ATTN:
            raise InvalidValue(
                "flash_attn", f"unknown flash-attention setting {self.flash_attn!r}", hint="use auto, on or off"
            )
        if not 1 <= self.ubatch <= MAX_UBATCH:
            raise InvalidValue(
                "ubatch", f"the micro-batch must be 1 to {MAX_UBATCH} tokens, got {self.ubatch}", hint="e.g. 512"
            )
        for field, value in (("cache_type_k", self.cache_type_k), ("cache_type_v", self.cache_type_v)):
            if value not in CACHE_TYPE_BYTES:
                raise InvalidValue(
                    field, f"unknown cache type {value!r}", hint=f"use one of: {', '.join(CACHE_TYPE_BYTES)}"
                )
        if self.flash_attn == "off" and self.cache_type_v not in ("f16", "bf16"):
            raise InvalidValue(
                "cache_type_v",
                f"a quantized V cache ({self.cache_type_v}) needs flash attention, as in llama.cpp",
                hint="drop the flash-attention 'off' setting or keep the V cache at f16",
            )

    @property
    def slots(self) -> int:
        return self.parallel if self.parallel is not None else AUTO_SLOTS

    @property
    def unified(self) -> bool:
        return self.kv_unified if self.kv_unified is not None else self.parallel is None

    @property
    def flash(self) -> bool:
        return self.flash_attn != "off"

    @property
    def batch(self) -> int:
        return max(DEFAULT_BATCH, self.ubatch)  # the printed command raises -b with -ub past 2048

    def micro_batch(self, ctx: int) -> int:
        return min(self.ubatch, self.batch, max(ctx, 1))


@dataclass(frozen=True)
class Reserve:
    """Bytes needed besides the weights, by part, and how they were obtained.

    `total_bytes` is kv + compute + output + runtime; None parts are unknown (a user figure or no header).
    """

    total_bytes: int
    kv_cache_bytes: int | None
    compute_bytes: int | None
    output_bytes: int | None
    runtime_bytes: int | None
    ctx: int
    source: ReserveSource  # estimate: from the header; default: header unknown; user: given by the user
    detail: str
    gpu_runtime_bytes: int = 0  # the part of runtime_bytes that sits on the GPU (its backend's context)

    @property
    def overhead_bytes(self) -> int | None:
        """Everything but the KV cache (compute + output + runtime), as the reserve reported it before."""
        if self.kv_cache_bytes is None:
            return None
        return self.total_bytes - self.kv_cache_bytes


def _pad(cells: int) -> int:
    return -(-cells // CELL_PADDING) * CELL_PADDING


def _per_layer(value: int | list[int] | None, index: int, default: int | None) -> int | None:
    if isinstance(value, list):
        return value[index] if index < len(value) else default
    return value if value is not None else default


def _is_swa_layer(shape: ModelShape, index: int) -> bool:
    pattern = shape.sliding_window_pattern
    if isinstance(pattern, list):
        return index < len(pattern) and pattern[index]
    period = pattern if isinstance(pattern, int) and pattern > 1 else SWA_PATTERN_BY_ARCH.get(shape.architecture)
    if not period:
        return False
    return index % period < period - 1


def _window(shape: ModelShape) -> int | None:
    return shape.sliding_window or SWA_WINDOW_BY_ARCH.get(shape.architecture)


@dataclass(frozen=True)
class _Cells:
    streams: int  # KV streams: 1 when unified, else one per slot
    full: int  # cells per stream of a full-attention layer
    swa: int  # cells per stream of a sliding-window layer (0: the model has none)


def _cells(shape: ModelShape, ctx: int, settings: RunnerSettings) -> _Cells:
    """Cells per stream (llama-context.cpp: n_ctx_seq; llama-kv-cache-iswa.cpp: the SWA cache's size)."""
    slots = settings.slots
    streams = 1 if settings.unified else slots
    per_stream = _pad(ctx) if settings.unified else _pad(-(-ctx // slots))
    window = _window(shape)
    has_swa = window is not None and any(_is_swa_layer(shape, i) for i in range(shape.block_count))
    swa = 0
    if has_swa and window is not None:
        seqs_per_stream = slots if settings.unified else 1
        swa = min(per_stream, _pad(window * seqs_per_stream + settings.micro_batch(ctx)))
    return _Cells(streams, per_stream, swa)


def _head_dims(shape: ModelShape, layer: int) -> tuple[int, int, int]:
    """(query heads, key length, value length) of one layer."""
    heads = _per_layer(shape.head_count, layer, 1) or 1
    embd = shape.embedding_length or 0
    head_dim = embd // heads if embd else 128
    return heads, shape.key_length or head_dim, shape.value_length or head_dim


def recurrent_state_bytes(shape: ModelShape, settings: RunnerSettings) -> int:
    """Mamba-style state of the layers without KV heads: conv and SSM rows in f32, one set per slot
    (llama-hparams.cpp n_embd_r/n_embd_s, llama-memory-recurrent.cpp)."""
    if not shape.ssm_inner_size:
        return 0
    conv = max((shape.ssm_conv_kernel or 0) - 1, 0)
    inner, state, groups = shape.ssm_inner_size, shape.ssm_state_size or 0, shape.ssm_group_count or 0
    per_layer = (conv * (inner + 2 * groups * state) + state * inner) * 4
    layers = sum(1 for i in range(shape.block_count) if not _per_layer(shape.head_count_kv, i, 0))
    return per_layer * layers * settings.slots


def kv_cache_bytes(shape: ModelShape, ctx: int, settings: RunnerSettings | None = None) -> int:
    """The KV cache for a total context of `ctx` tokens, plus any recurrent state (llama-kv-cache.cpp).

    Per attention layer: cells x KV heads x (key + value length) x the cache types' bytes. Sliding-window layers
    hold their window (times the slots sharing a unified cache) plus one micro-batch; MLA models (kv_lora_rank
    with an MLA key length) cache one latent K row per token and no V; layers without KV heads hold none.
    """
    settings = settings or RunnerSettings()
    k_bytes = CACHE_TYPE_BYTES[settings.cache_type_k]
    v_bytes = CACHE_TYPE_BYTES[settings.cache_type_v]
    cells = _cells(shape, ctx, settings)
    mla = bool(shape.kv_lora_rank and shape.key_length_mla)
    total = 0.0
    for layer in range(shape.block_count):
        heads, key_length, value_length = _head_dims(shape, layer)
        kv_heads = _per_layer(shape.head_count_kv, layer, heads)
        if not kv_heads:
            continue
        per_cell = kv_heads * key_length * k_bytes + (0 if mla else kv_heads * value_length * v_bytes)
        layer_cells = cells.swa if cells.swa and _is_swa_layer(shape, layer) else cells.full
        total += layer_cells * cells.streams * per_cell
    return int(total) + recurrent_state_bytes(shape, settings)


def _masks_bytes(shape: ModelShape, ctx: int, settings: RunnerSettings, u: int) -> int:
    """The KQ masks of one micro-batch: [cells x u] per cache kind (full and sliding window), f16 with flash
    attention and f32 without; none for a model without attention."""
    if not any(_per_layer(shape.head_count_kv, i, 1) for i in range(shape.block_count)):
        return 0
    cells = _cells(shape, ctx, settings)
    return (2 if settings.flash else 4) * u * (cells.full + cells.swa)


def compute_bytes(shape: ModelShape, ctx: int, settings: RunnerSettings | None = None) -> int:
    """llama-server's compute buffer: the largest peak of the prompt graph for one micro-batch of u tokens, plus
    the graph's inputs (one f32 row of embeddings per token and the KQ masks).

    llama-server b11434 keeps one output row per slot (n_outputs_max = -np, tools/server/server-context.cpp), so
    the logits are 4 x vocab x slots, and the peak is inside a layer:
    - a dense FFN: gate, up and their product (3 x ff) beside four f32 hidden rows;
    - an MoE FFN: the larger of the same for the used experts, and the used experts' outputs (2 x used x embd)
      while they are weighed and summed;
    - a recurrent (Mamba) layer: seven rows of the inner size;
    - without flash attention, in attention: the f32 scores of the widest layer (4 x heads x cells x u), the
      masks, and Q/K/V with their copies (4 x u x (3 embd + 3 heads x key + 2 kv_heads x key)).
    Measured against llama-server b11434 on the bench/accuracy models (bench/accuracy/results.md).
    """
    settings = settings or RunnerSettings()
    u = settings.micro_batch(ctx)
    embd = shape.embedding_length or 4096
    cells = _cells(shape, ctx, settings)
    masks = _masks_bytes(shape, ctx, settings, u)
    attends = masks > 0
    inputs = 4 * embd * u + masks
    in_layer = layer_peak_bytes(shape, u)
    at_output = 4 * (shape.vocab_size or DEFAULT_VOCAB) * min(settings.slots, u)
    peak = max(in_layer + inputs, at_output + inputs)
    if settings.flash or not attends:
        return peak
    widest = 0
    for layer in range(shape.block_count):
        heads, key_length, _ = _head_dims(shape, layer)
        kv_heads = _per_layer(shape.head_count_kv, layer, heads) or 0
        if not kv_heads:
            continue
        layer_cells = cells.swa if cells.swa and _is_swa_layer(shape, layer) else cells.full
        scores = 4 * heads * layer_cells * u
        qkv = 4 * u * (3 * embd + 3 * heads * key_length + 2 * kv_heads * key_length)
        widest = max(widest, scores + qkv)
    return max(peak, widest + masks)


def layer_peak_bytes(shape: ModelShape, u: int) -> int:
    """The f32 intermediates alive at once inside the busiest layer (FFN or recurrent block) for u tokens."""
    embd = shape.embedding_length or 4096
    rows = 4 * embd  # the residual, the norm and the two halves of an add
    # a header without the FFN width: the classic transformer's 4 x embd
    dense_ff = shape.feed_forward_length or (0 if shape.ssm_inner_size else 4 * embd)
    if shape.expert_count and shape.expert_used_count:
        used = shape.expert_used_count
        expert_ff = shape.expert_feed_forward_length or dense_ff
        moe = max(3 * used * expert_ff + rows, 2 * used * embd + used * expert_ff + 2 * embd)
        dense = 3 * dense_ff + rows if shape.leading_dense_block_count else 0
        per_token = max(moe, dense)
    elif dense_ff:
        per_token = 3 * dense_ff + rows
    else:
        per_token = rows
    if shape.ssm_inner_size:
        per_token = max(per_token, 7 * shape.ssm_inner_size)
    return 4 * u * per_token


# llama.cpp's scheduler keeps this many copies of every split input when it runs devices as a pipeline
# (GGML_SCHED_MAX_COPIES, ggml/src/ggml-backend.cpp): with several devices and every layer offloaded.
SCHED_COPIES = 4
# Per token of a micro-batch, the graph's small inputs: i32 positions, i64 K and V cell indices, i64 slot ids.
POSITION_INPUT_BYTES = 28


@dataclass(frozen=True)
class DeviceLayers:
    """What one device of a layer split holds, for its compute buffer."""

    first: bool  # it takes the embeddings from the CPU
    layers: int  # repeating layers on it
    last: bool  # it holds the last repeating layer (which runs its FFN for the output rows only)
    output: bool  # it holds the output layer


def device_compute_bytes(
    shape: ModelShape, ctx: int, settings: RunnerSettings, device: DeviceLayers, *, pipeline: bool
) -> int:
    """One device's compute buffer in a layer split across devices, as llama-server b11434 reserves it.

    A device holds its own peak and the inputs of its part of the graph (the KQ masks and positions; the hidden
    state from the device before it). The peak is the FFN of a layer before the last (the first device also
    merges token and embedding inputs: two more rows), else the attention of the last layer (which runs its FFN
    for the output rows only), during which the incoming hidden state is still the residual. With pipeline
    parallelism (several devices, every layer offloaded) nothing an input holds is reused: each input, three
    f32 rows on the first device and one on the others, is held SCHED_COPIES times. Measured with rpc-servers on
    loopback (bench/rpc/results.md, tests/test_memory.py).
    """
    u = settings.micro_batch(ctx)
    embd = shape.embedding_length or 4096
    row = 4 * embd * u
    outputs = min(settings.slots, u)
    total = 4 * (shape.vocab_size or DEFAULT_VOCAB) * outputs if device.output else 0
    if not device.layers:
        return total + 4 * embd * outputs
    masks = _masks_bytes(shape, ctx, settings, u)
    attends = masks > 0
    positions = POSITION_INPUT_BYTES * u
    ffn = max(layer_peak_bytes(shape, u) - (0 if device.first else 2 * row), 0)
    peak = ffn if device.layers > int(device.last) else 0
    attention = 4 * row
    if attends and not settings.flash:
        # the f32 scores; the input copies of a pipeline cannot be reused for them: four more rows (measured)
        attention = max(attention, compute_bytes(shape, ctx, settings) - masks + (4 * row if pipeline else 0))
    if pipeline:
        held = SCHED_COPIES * ((3 if device.first else 1) * row + masks + positions)
        return total + held + max(peak, attention)
    incoming = 0 if device.first else row
    return total + masks + positions + max(peak, attention + incoming)


def runs_as_pipeline(devices: int, all_layers_offloaded: bool, tensor_overrides: bool) -> bool:
    """llama.cpp's rule (llama-context.cpp): several devices, every layer (the output layer included) offloaded,
    and no tensor overrides (--n-cpu-moe is one)."""
    return devices > 1 and all_layers_offloaded and not tensor_overrides


def head_compute_bytes(shape: ModelShape, ctx: int, settings: RunnerSettings, *, pipeline: bool) -> int:
    """The head's CPU compute buffer when every layer is offloaded: the token embeddings (two f32 rows, token
    and merged input) and the graph inputs (two embedding rows, the masks), those SCHED_COPIES times when the
    split runs as a pipeline. Logged with two rpc-servers at 2048 cells: 88.1 MiB (160.1 without flash
    attention); the same here (bench/rpc/results.md)."""
    u = settings.micro_batch(ctx)
    row = 4 * (shape.embedding_length or 4096) * u
    masks = _masks_bytes(shape, ctx, settings, u)
    copies = SCHED_COPIES if pipeline else 1
    extra = 2 * row if masks and not settings.flash else 0  # without flash attention: two more rows (measured)
    return 2 * row + copies * (2 * row + masks + POSITION_INPUT_BYTES * u + extra)


def output_bytes(shape: ModelShape, settings: RunnerSettings | None = None) -> int:
    """The logits llama.cpp keeps for the caller: one f32 row per slot (llama-context.cpp output_reserve)."""
    settings = settings or RunnerSettings()
    return 4 * (shape.vocab_size or DEFAULT_VOCAB) * settings.slots


def runtime_bytes(shape: ModelShape, slots: int = 1) -> int:
    """Process memory outside the buffers on the CPU: libraries, model metadata, graph metadata (measured)."""
    vocab = shape.vocab_size or DEFAULT_VOCAB
    return CPU_RUNTIME_BASE + RUNTIME_BYTES_PER_TOKEN * vocab + RUNTIME_BYTES_PER_TOKEN_PER_SLOT * vocab * (slots - 1)


def estimate_reserve(
    shape: ModelShape | None,
    ctx: int,
    user_reserve: int | None = None,
    settings: RunnerSettings | None = None,
    gpu_backend: Backend | None = None,
    gpu_count: int = 1,
) -> Reserve:
    """Everything besides the weights; `gpu_backend` adds that backend's context on each of `gpu_count` GPUs.

    With several GPUs (a layer split) each holds a compute buffer for its layers (device_compute_bytes).
    """
    settings = settings or RunnerSettings()
    if user_reserve is not None:
        return Reserve(user_reserve, None, None, None, None, ctx, "user", "given by the user")
    if shape is None:
        return Reserve(
            UNKNOWN_SHAPE_RESERVE,
            None,
            None,
            None,
            None,
            ctx,
            "default",
            "model header unreadable: kept the top of the model cards' 1-2 GB band (2 GiB)",
        )
    kv = kv_cache_bytes(shape, ctx, settings)
    compute = compute_bytes(shape, ctx, settings)
    if gpu_backend is not None and gpu_count > 1:
        # A layer split over every GPU, run as a pipeline: the first takes the embeddings, the last the output.
        devices = [DeviceLayers(i == 0, 2, i == gpu_count - 1, i == gpu_count - 1) for i in range(gpu_count)]
        compute = sum(device_compute_bytes(shape, ctx, settings, d, pipeline=True) for d in devices)
    output = output_bytes(shape, settings)
    gpu_runtime = GPU_RUNTIME.get(gpu_backend, 0) * max(gpu_count, 1) if gpu_backend is not None else 0
    runtime = runtime_bytes(shape, settings.slots) + gpu_runtime
    slots = f"{settings.slots} slot{'s' if settings.slots > 1 else ''}"
    if settings.slots > 1:
        slots += ", unified" if settings.unified else ", one stream each"
    cache = (
        settings.cache_type_k
        if settings.cache_type_k == settings.cache_type_v
        else (f"K {settings.cache_type_k}, V {settings.cache_type_v}")
    )
    detail = (
        f"KV cache {cache} for {ctx} tokens ({slots}) + compute for {settings.micro_batch(ctx)}-token micro-batches"
        f" (flash attention {'on' if settings.flash else 'off'}) + output + runtime"
    )
    return Reserve(kv + compute + output + runtime, kv, compute, output, runtime, ctx, "estimate", detail, gpu_runtime)


def max_context_within(
    shape: ModelShape, room_bytes: int, ctx_limit: int, settings: RunnerSettings | None = None
) -> int:
    """The longest context (multiple of 256, >= 256) whose KV cache and compute buffer fit in `room_bytes`, or 0."""
    settings = settings or RunnerSettings()

    def need(ctx: int) -> int:
        return kv_cache_bytes(shape, ctx, settings) + compute_bytes(shape, ctx, settings)

    return _largest(lambda cells: need(cells * CELL_PADDING) <= room_bytes, max(ctx_limit // CELL_PADDING, 1)) * (
        CELL_PADDING
    )


def _largest(fits: Callable[[int], bool], high: int) -> int:
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low
