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
    SCHED_COPIES,
    UNKNOWN_SHAPE_RESERVE,
    DeviceLayers,
    RunnerSettings,
    compute_bytes,
    device_compute_bytes,
    estimate_reserve,
    head_compute_bytes,
    kv_cache_bytes,
    max_context_within,
    output_bytes,
    runs_as_pipeline,
    runtime_bytes,
)

GiB, MiB, KiB = 1024**3, 1024**2, 1024
ONE = RunnerSettings(parallel=1)  # llama-cli: one sequence
# bench/accuracy shapes (real geometry, fewer layers)
LLAMA3 = ModelShape("llama", 4, 4096, 8192, 32, 8, 128, 128, vocab_size=128256, feed_forward_length=14336)
LLAMA2 = ModelShape("llama", 4, 4096, 4096, 32, 32, 128, 128, vocab_size=32000, feed_forward_length=11008)
QWEN_SMALL = ModelShape("llama", 6, 896, 32768, 14, 2, 64, 64, vocab_size=151936, feed_forward_length=4864)
GEMMA2 = ModelShape(
    "gemma2", 4, 2304, 8192, 8, 4, 256, 256, sliding_window=4096, vocab_size=256000, feed_forward_length=9216
)
GEMMA3_270M = ModelShape(
    "gemma3", 18, 640, 32768, 4, 1, 256, 256, sliding_window=512, vocab_size=262144, feed_forward_length=2048
)
DEEPSEEK2 = ModelShape(
    "deepseek2",
    2,
    2048,
    163840,
    16,
    1,
    576,
    512,
    64,
    6,
    kv_lora_rank=512,
    key_length_mla=192,
    vocab_size=102400,
    feed_forward_length=10944,
    expert_feed_forward_length=1408,
    expert_shared_count=2,
    leading_dense_block_count=1,
)
QWEN3MOE = ModelShape(
    "qwen3moe",
    4,
    2048,
    40960,
    32,
    4,
    128,
    128,
    128,
    8,
    vocab_size=151936,
    feed_forward_length=6144,
    expert_feed_forward_length=768,
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
        (LLAMA3, 8192, ONE, 132.0),  # a dense FFN's gate, up and product beside four hidden rows, + inputs
        (LLAMA3, 32768, ONE, 156.0),
        (LLAMA3, 8192, RunnerSettings(parallel=1, ubatch=2048), 528.1),
        (LLAMA3, 8192, RunnerSettings(), 132.0),  # 4 unified slots: still one output row each
        (LLAMA3, 8192, RunnerSettings(parallel=4), 126.0),  # separate streams: masks of 2048 cells
        (LLAMA3, 8192, RunnerSettings(parallel=1, flash_attn="off"), 580.0),  # f32 scores dominate
        (LLAMA3, 32768, RunnerSettings(parallel=1, flash_attn="off"), 2164.0),
        (LLAMA2, 8192, ONE, 112.5),
        (QWEN_SMALL, 32768, RunnerSettings(parallel=1, flash_attn="off"), 971.0),
        (QWEN_SMALL, 8192, ONE, 45.3),  # 152k vocabulary: no logits for every row under llama-server
        (QWEN3MOE, 8192, ONE, 96.0),  # the used experts' outputs while they are weighed
        (GEMMA2, 8192, ONE, 89.0),
        (GEMMA2, 8192, RunnerSettings(parallel=1, flash_attn="off"), 187.5),
        (GEMMA3_270M, 8192, ONE, 27.3),
        (DEEPSEEK2, 8192, ONE, 92.1),  # the leading dense layer is the widest
        (MAMBA, 8192, ONE, 22.6),  # seven rows of the inner size
        (MAMBA, 8192, RunnerSettings(parallel=1, ubatch=2048), 90.1),
    ],
)
def test_compute_buffer_within_three_percent(
    shape: ModelShape, ctx: int, settings: RunnerSettings, logged_mib: float
) -> None:
    assert mib(compute_bytes(shape, ctx, settings)) == pytest.approx(logged_mib, rel=0.03)


# Logged by llama-server b11434 with two rpc-servers on loopback (bench/rpc), LLAMA2, 2048 cells, -np 1, -ngl 5:
# -ts 1,0.5 puts the 4 layers on the first device and the output layer on the second; -ts 1,1 puts 3 and 1 + output.
FIRST_ALL = DeviceLayers(first=True, layers=4, last=True, output=False)
FIRST_THREE = DeviceLayers(first=True, layers=3, last=False, output=False)
LAST_AND_OUTPUT = DeviceLayers(first=False, layers=1, last=True, output=True)
OUTPUT_ONLY = DeviceLayers(first=False, layers=0, last=False, output=True)
LATER_TWO_AND_OUTPUT = DeviceLayers(first=False, layers=2, last=True, output=True)
FIRST_ALL_AND_OUTPUT = DeviceLayers(first=True, layers=4, last=True, output=True)
RPC_RUN = RunnerSettings(parallel=1)


@pytest.mark.parametrize(
    ("device", "ctx", "settings", "logged_mib"),
    [
        (FIRST_ALL, 2048, RPC_RUN, 200.55),  # four copies of three hidden rows and the mask, + the FFN peak
        (FIRST_ALL, 4096, RPC_RUN, 208.55),  # + 4 copies of a mask twice as wide
        (FIRST_ALL, 2048, RunnerSettings(parallel=1, ubatch=256), 100.28),
        (FIRST_THREE, 2048, RPC_RUN, 200.55),
        (LAST_AND_OUTPUT, 2048, RPC_RUN, 72.04),  # the last layer runs its FFN for the output row only
        (FIRST_THREE, 2048, RunnerSettings(parallel=1, flash_attn="off"), 344.04),
        (LAST_AND_OUTPUT, 2048, RunnerSettings(parallel=1, flash_attn="off"), 264.02),
        (LATER_TWO_AND_OUTPUT, 2048, RPC_RUN, 120.54),  # -ts 0.6,1: one incoming row, the FFN without the merge
    ],
)
def test_each_device_of_a_pipeline_holds_its_own_compute_buffer(
    device: DeviceLayers, ctx: int, settings: RunnerSettings, logged_mib: float
) -> None:
    assert mib(device_compute_bytes(LLAMA2, ctx, settings, device, pipeline=True)) == pytest.approx(
        logged_mib, rel=0.04
    )


# Without a pipeline (one device, or layers left on the CPU) inputs are freed once used. Logged the same way:
# one rpc-server -ngl 5; two rpc-servers -ngl 4 -ts 1,1 (the CPU runs layer 0, then 2 layers, then 1 + output).
@pytest.mark.parametrize(
    ("device", "logged_mib"),
    [
        (FIRST_ALL_AND_OUTPUT, 98.51),
        (DeviceLayers(first=False, layers=2, last=False, output=False), 82.51),
        (LAST_AND_OUTPUT, 42.01),  # the incoming row is the residual of the last layer's attention
    ],
)
def test_without_a_pipeline_a_device_reuses_its_inputs(device: DeviceLayers, logged_mib: float) -> None:
    assert mib(device_compute_bytes(LLAMA2, 2048, RPC_RUN, device, pipeline=False)) == pytest.approx(
        logged_mib, rel=0.04
    )


def test_the_output_device_holds_the_logits_of_one_row_per_slot() -> None:
    assert mib(device_compute_bytes(LLAMA2, 2048, RPC_RUN, OUTPUT_ONLY, pipeline=True)) == pytest.approx(0.2, abs=0.1)


def test_the_head_keeps_copies_of_the_graph_inputs() -> None:
    assert mib(head_compute_bytes(LLAMA2, 2048, RPC_RUN, pipeline=True)) == pytest.approx(88.07, rel=0.01)
    assert mib(head_compute_bytes(LLAMA2, 4096, RPC_RUN, pipeline=True)) == pytest.approx(96.07, rel=0.01)
    flash_off = RunnerSettings(parallel=1, flash_attn="off")
    assert mib(head_compute_bytes(LLAMA2, 2048, flash_off, pipeline=True)) == pytest.approx(160.05, rel=0.01)
    single = head_compute_bytes(LLAMA2, 2048, RPC_RUN, pipeline=False)
    assert single < head_compute_bytes(LLAMA2, 2048, RPC_RUN, pipeline=True) / 2


def test_copies_only_when_llama_cpp_runs_a_pipeline() -> None:
    assert runs_as_pipeline(2, all_layers_offloaded=True, tensor_overrides=False)
    assert not runs_as_pipeline(1, all_layers_offloaded=True, tensor_overrides=False)
    assert not runs_as_pipeline(2, all_layers_offloaded=False, tensor_overrides=False)
    assert not runs_as_pipeline(2, all_layers_offloaded=True, tensor_overrides=True)  # --n-cpu-moe
    piped = device_compute_bytes(LLAMA2, 2048, RPC_RUN, FIRST_THREE, pipeline=True)
    alone = device_compute_bytes(LLAMA2, 2048, RPC_RUN, FIRST_THREE, pipeline=False)
    # the pipeline holds SCHED_COPIES copies of three f32 rows of 4096 x 512 and a 2048 x 512 f16 mask (26 MiB);
    # alone the device keeps only the mask beside its peak
    assert mib(piped - alone) == pytest.approx(SCHED_COPIES * 26.0 - 2.0, abs=0.1)


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
