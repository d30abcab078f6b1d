"""Memory a model needs besides its weights: the KV cache for a context and the runtime's overhead.

Pure arithmetic on a ModelShape, following llama.cpp's allocation (src/llama-kv-cache.cpp,
llama-kv-cache-iswa.cpp); see the README section "How the reserve is estimated".
"""

from __future__ import annotations

from dataclasses import dataclass

from quantpick.gguf import ModelShape
from quantpick.sizes import GiB, MiB
from quantpick.states import ReserveSource

KV_BYTES_PER_ELEMENT = 2  # f16, llama.cpp's default cache type
CELL_PADDING = 256  # llama.cpp pads the context to a multiple of 256 cells
UBATCH = 512  # llama.cpp's default micro-batch, which sizes the compute buffers
RUNTIME_OVERHEAD = 512 * MiB  # runtime context, driver allocations and fragmentation; see README
DEFAULT_VOCAB = 128 * 1024  # logits buffer size when the header gave no vocabulary
UNKNOWN_SHAPE_RESERVE = 2 * GiB  # the top of the model cards' "1-2 GB smaller" band

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
class Reserve:
    """Bytes kept free besides the weights, with its parts and how it was obtained."""

    total_bytes: int
    kv_cache_bytes: int | None
    overhead_bytes: int | None
    ctx: int
    source: ReserveSource  # estimate: from the header; default: header unknown; user: given by the user
    detail: str


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


def kv_cache_bytes(shape: ModelShape, ctx: int, bytes_per_element: float = KV_BYTES_PER_ELEMENT) -> int:
    """KV cache for `ctx` tokens: per attention layer, cells x KV heads x (key + value length) x element size.

    Recurrent layers (0 KV heads) hold no per-token cache; sliding-window layers hold only their window
    plus one micro-batch; MLA models (kv_lora_rank) cache one compressed K row per token and no V.
    """
    head_count = shape.head_count if shape.head_count is not None else 1
    embd = shape.embedding_length or 0
    window = shape.sliding_window or SWA_WINDOW_BY_ARCH.get(shape.architecture)
    full_cells = _pad(ctx)
    swa_cells = _pad(min(ctx, window + UBATCH)) if window else full_cells
    total = 0.0
    for layer in range(shape.block_count):
        heads = _per_layer(head_count, layer, 1) or 1
        kv_heads = _per_layer(shape.head_count_kv, layer, heads)
        if not kv_heads:
            continue
        head_dim = embd // heads if embd else 128
        key_length = shape.key_length or head_dim
        value_length = shape.value_length or head_dim
        per_cell = kv_heads * (key_length if shape.kv_lora_rank else key_length + value_length)
        cells = swa_cells if window and _is_swa_layer(shape, layer) else full_cells
        total += cells * per_cell * bytes_per_element
    return int(total)


def overhead_bytes(shape: ModelShape) -> int:
    """Compute buffers (the larger of the logits and the activation scratch for one micro-batch) plus runtime."""
    vocab = shape.vocab_size or DEFAULT_VOCAB
    embd = shape.embedding_length or 4096
    compute = max(vocab * UBATCH * 4, 4 * embd * UBATCH * 4)
    return compute + RUNTIME_OVERHEAD


def estimate_reserve(shape: ModelShape | None, ctx: int, user_reserve: int | None = None) -> Reserve:
    if user_reserve is not None:
        return Reserve(user_reserve, None, None, ctx, "user", "given by the user")
    if shape is None:
        return Reserve(
            UNKNOWN_SHAPE_RESERVE,
            None,
            None,
            ctx,
            "default",
            "model header unreadable: kept the top of the model cards' 1-2 GB band (2 GiB)",
        )
    kv = kv_cache_bytes(shape, ctx)
    overhead = overhead_bytes(shape)
    return Reserve(kv + overhead, kv, overhead, ctx, "estimate", f"KV cache f16 for {ctx} tokens + compute buffers")


def max_context_within(shape: ModelShape, room_bytes: int, ctx_limit: int) -> int:
    """The longest context (multiple of 256, >= 256) whose KV cache fits in `room_bytes`, or 0."""
    low, high = 0, max(ctx_limit // CELL_PADDING, 1)
    while low < high:
        mid = (low + high + 1) // 2
        if kv_cache_bytes(shape, mid * CELL_PADDING) <= room_bytes:
            low = mid
        else:
            high = mid - 1
    return low * CELL_PADDING
