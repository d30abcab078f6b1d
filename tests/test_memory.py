import pytest

from quantpick.gguf import ModelShape
from quantpick.memory import (
    RUNTIME_OVERHEAD,
    UNKNOWN_SHAPE_RESERVE,
    estimate_reserve,
    kv_cache_bytes,
    max_context_within,
)

GiB, MiB, KiB = 1024**3, 1024**2, 1024
LLAMA3_8B = ModelShape("llama", 32, 4096, 8192, 32, 8, vocab_size=128256)


def test_llama3_8b_is_128_kib_per_token():
    assert kv_cache_bytes(LLAMA3_8B, 8192) == 1 * GiB
    assert kv_cache_bytes(LLAMA3_8B, 1) == 256 * 128 * KiB  # padded to 256 cells


def test_gemma3_sliding_window_layers_hold_only_their_window():
    gemma = ModelShape("gemma3", 62, 5376, 131072, 32, 16, 128, 128, sliding_window=1024)
    naive = 62 * 16 * 256 * 2 * 32768
    kv = kv_cache_bytes(gemma, 32768)
    assert kv == pytest.approx(3.11 * GiB, rel=0.01)  # 10 global layers x 32k + 52 SWA layers x 1536 cells
    assert kv < naive / 4


def test_explicit_swa_pattern_array():
    shape = ModelShape(
        "custom", 4, 1024, 8192, 8, 8, 128, 128, sliding_window=512, sliding_window_pattern=[True, True, True, False]
    )
    full, window = 8192 * 8 * 256 * 2, 1024 * 8 * 256 * 2
    assert kv_cache_bytes(shape, 8192) == full + 3 * window


def test_recurrent_layers_have_no_per_token_cache():
    hybrid = ModelShape("jamba", 4, 4096, 8192, 32, [0, 8, 0, 0], 128, 128)
    assert kv_cache_bytes(hybrid, 8192) == kv_cache_bytes(ModelShape("llama", 1, 4096, 8192, 32, 8, 128, 128), 8192)


def test_mla_caches_one_compressed_row():
    deepseek = ModelShape("deepseek2", 61, 7168, 163840, 128, 1, 576, 512, kv_lora_rank=512)
    assert kv_cache_bytes(deepseek, 1024) == 61 * 1024 * 576 * 2


def test_reserve_sources():
    estimated = estimate_reserve(LLAMA3_8B, 8192)
    assert estimated.source == "estimate"
    assert estimated.total_bytes == 1 * GiB + 128256 * 512 * 4 + RUNTIME_OVERHEAD
    assert 1 * GiB < estimated.total_bytes < 2 * GiB  # inside the model cards' 1-2 GB band
    assert estimate_reserve(None, 8192).total_bytes == UNKNOWN_SHAPE_RESERVE
    assert estimate_reserve(LLAMA3_8B, 8192, user_reserve=123).total_bytes == 123


def test_max_context_within():
    assert max_context_within(LLAMA3_8B, 1 * GiB, 131072) == 8192
    assert max_context_within(LLAMA3_8B, 1 * MiB, 131072) == 0
