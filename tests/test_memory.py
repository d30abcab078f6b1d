"""The memory formulas, against figures a real llama.cpp b11434 logged for the same shapes (bench/accuracy).

Each expected figure below is a buffer size llama.cpp printed for a bench/accuracy model (CPU backend); the shape
is that model's header as quantpick reads it.
"""

import pytest

from quantpick.errors import InvalidValue
from quantpick.gguf import ModelShape
from quantpick.memory import (
    CPU_RUNTIME_BASE,
    GPU_RUNTIME,
    UNKNOWN_SHAPE_RESERVE,
    RunnerSettings,
    compute_bytes,
    estimate_reserve,
    kv_cache_bytes,
    max_context_within,
    output_bytes,
    runtime_bytes,
)

GiB, MiB, KiB = 1024**3, 1024**2, 1024
ONE = RunnerSettings(parallel=1)  # llama-cli: one sequence
# bench/accuracy shapes (real geometry, fewer layers)
LLAMA3 = ModelShape("llama", 4, 4096, 8192, 32, 8, 128, 128, vocab_size=128256)
LLAMA2 = ModelShape("llama", 4, 4096, 4096, 32, 32, 128, 128, vocab_size=32000)
QWEN_SMALL = ModelShape("llama", 6, 896, 32768, 14, 2, 64, 64, vocab_size=151936)
GEMMA2 = ModelShape("gemma2", 4, 2304, 8192, 8, 4, 256, 256, sliding_window=4096, vocab_size=256000)
GEMMA3_270M = ModelShape("gemma3", 18, 640, 32768, 4, 1, 256, 256, sliding_window=512, vocab_size=262144)
DEEPSEEK2 = ModelShape(
    "deepseek2", 2, 2048, 163840, 16, 1, 576, 512, 64, 6, kv_lora_rank=512, key_length_mla=192, vocab_size=102400
)
MAMBA = ModelShape(
    "mamba", 4, 768, 1 << 20, 0, 0, vocab_size=50280, ssm_conv_kernel=4, ssm_inner_size=1536, ssm_state_size=16
)


def mib(value: int) -> float:
    return value / MiB


@pytest.mark.parametrize(
    ("shape", "ctx", "settings", "logged_mib"),
    [
        (LLAMA3, 8192, ONE, 128.0),
        (LLAMA3, 32768, ONE, 512.0),
        (LLAMA2, 8192, ONE, 512.0),
        (QWEN_SMALL, 8192, ONE, 24.0),
        (LLAMA3, 8192, RunnerSettings(parallel=1, cache_type_k="q8_0", cache_type_v="q8_0"), 68.0),
        (GEMMA2, 8192, ONE, 100.0),  # 2 full layers x 8192 + 2 SWA layers x pad(4096 + 512)
        (GEMMA2, 8192, RunnerSettings(parallel=1, ubatch=2048), 112.0),
        (GEMMA2, 8192, RunnerSettings(), 128.0),  # 4 unified slots: the window x 4 + 512, capped at the context
        (GEMMA2, 8192, RunnerSettings(parallel=1, ubatch=128), 98.0),
        (GEMMA2, 8192, RunnerSettings(parallel=1, cache_type_k="q8_0", cache_type_v="q8_0"), 53.125),
        (GEMMA3_270M, 8192, ONE, 39.0),
        (GEMMA3_270M, 32768, ONE, 111.0),
        (GEMMA3_270M, 8192, RunnerSettings(), 61.5),
        (GEMMA3_270M, 8192, RunnerSettings(parallel=4), 84.0),  # 4 streams of 2048 cells, each its own window
        (GEMMA3_270M, 8192, RunnerSettings(parallel=1, ubatch=128), 35.25),
        (DEEPSEEK2, 8192, ONE, 18.0),  # MLA: one 576-wide latent K row per token, no V
        (MAMBA, 8192, ONE, 0.4453125),  # recurrent state, no per-token cache
        (MAMBA, 8192, RunnerSettings(), 1.78125),
    ],
)
def test_kv_cache_is_what_llama_cpp_allocates(
    shape: ModelShape, ctx: int, settings: RunnerSettings, logged_mib: float
) -> None:
    assert mib(kv_cache_bytes(shape, ctx, settings)) == pytest.approx(logged_mib, abs=0.01)


@pytest.mark.parametrize(
    ("shape", "ctx", "settings", "logged_mib"),
    [
        (LLAMA3, 8192, ONE, 298.52),
        (LLAMA3, 32768, ONE, 330.52),
        (LLAMA3, 8192, RunnerSettings(parallel=1, ubatch=2048), 1194.08),
        (LLAMA3, 8192, RunnerSettings(parallel=1, ubatch=128), 74.63),
        (LLAMA3, 8192, RunnerSettings(parallel=4), 292.52),  # separate streams: masks of 2048 cells
        (LLAMA3, 8192, RunnerSettings(parallel=1, flash_attn="off"), 580.02),  # f32 scores dominate
        (LLAMA3, 32768, RunnerSettings(parallel=1, flash_attn="off"), 2164.02),
        (LLAMA2, 8192, RunnerSettings(parallel=1, flash_attn="off", ubatch=2048), 2368.06),
        (QWEN_SMALL, 32768, RunnerSettings(parallel=1, flash_attn="off"), 971.02),
        (GEMMA2, 8192, ONE, 535.03),
        (GEMMA3_270M, 8192, ONE, 527.28),
        (DEEPSEEK2, 8192, ONE, 228.02),
        (MAMBA, 8192, ONE, 105.71),
    ],
)
def test_compute_buffer_within_three_percent(
    shape: ModelShape, ctx: int, settings: RunnerSettings, logged_mib: float
) -> None:
    assert mib(compute_bytes(shape, ctx, settings)) == pytest.approx(logged_mib, rel=0.03)


def test_output_buffer_is_one_row_of_logits_per_slot() -> None:
    assert mib(output_bytes(LLAMA3, ONE)) == pytest.approx(0.49, abs=0.01)
    assert mib(output_bytes(LLAMA3, RunnerSettings())) == pytest.approx(1.96, abs=0.01)


def test_runtime_grows_with_the_vocabulary() -> None:
    # measured outside the buffers: 14.3 MiB (32k vocabulary) to 45.2 MiB (256k)
    assert 12 < mib(runtime_bytes(LLAMA2)) < 20
    assert 40 < mib(runtime_bytes(GEMMA2)) < 50
    assert runtime_bytes(LLAMA3) > CPU_RUNTIME_BASE


def test_server_defaults_are_four_unified_slots() -> None:
    auto = RunnerSettings()
    assert (auto.slots, auto.unified) == (4, True)
    assert (RunnerSettings(parallel=2).slots, RunnerSettings(parallel=2).unified) == (2, False)
    assert RunnerSettings(parallel=2, kv_unified=True).unified


def test_reserve_adds_its_parts_and_a_gpu_context() -> None:
    cpu = estimate_reserve(LLAMA3, 8192, settings=ONE)
    assert cpu.source == "estimate"
    parts = [cpu.kv_cache_bytes, cpu.compute_bytes, cpu.output_bytes, cpu.runtime_bytes]
    assert cpu.total_bytes == sum(p or 0 for p in parts)
    assert cpu.overhead_bytes == cpu.total_bytes - 128 * MiB
    cuda = estimate_reserve(LLAMA3, 8192, settings=ONE, gpu_backend="cuda")
    assert cuda.total_bytes - cpu.total_bytes == GPU_RUNTIME["cuda"] == cuda.gpu_runtime_bytes
    assert estimate_reserve(None, 8192).total_bytes == UNKNOWN_SHAPE_RESERVE
    assert estimate_reserve(LLAMA3, 8192, user_reserve=123).total_bytes == 123


def test_max_context_counts_kv_and_compute() -> None:
    room = kv_cache_bytes(LLAMA3, 8192, ONE) + compute_bytes(LLAMA3, 8192, ONE)
    assert max_context_within(LLAMA3, room, 131072, ONE) == 8192
    assert max_context_within(LLAMA3, 1 * MiB, 131072, ONE) == 0


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"ubatch": 0}, "ubatch"),
        ({"parallel": 0}, "parallel"),
        ({"cache_type_k": "q3_k"}, "cache_type_k"),
        ({"cache_type_v": "q8_0", "flash_attn": "off"}, "cache_type_v"),
        ({"flash_attn": "maybe"}, "flash_attn"),
    ],
)
def test_bad_settings_name_their_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        RunnerSettings(**settings)  # type: ignore[arg-type]
    assert caught.value.field == field
