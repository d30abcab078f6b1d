"""The speed model with plain data: bytes per token, devices, kernels, and parameter counts."""

import pytest

from quantpick.catalog import load_catalog
from quantpick.gguf import ModelShape
from quantpick.rules import MOE_REFERENCE
from quantpick.speed import (
    CACHE_CORE_GBPS,
    CODEBOOK_FACTOR_CPU,
    CODEBOOK_FACTOR_GPU,
    CPU_CORE_GBPS,
    CPU_KERNEL_FACTORS,
    WEIGHTS_CACHE_SHARE,
    SpeedEstimate,
    active_fraction,
    estimate,
    kernel_factor,
    main_type,
    parameter_count,
)

CATALOG = load_catalog()
LLAMA31_8B = ModelShape("llama", 32, 4096, 131072, 32, 8, 128, 128, vocab_size=128256, feed_forward_length=14336)
GEMMA2_2B = ModelShape("gemma2", 26, 2304, 8192, 8, 4, 256, 256, vocab_size=256000, feed_forward_length=9216)
QWEN3_30B = MOE_REFERENCE[2]  # Qwen3-30B-A3B's shape, as the no-repo plan uses it


def test_parameter_counts_of_real_models():
    assert parameter_count(LLAMA31_8B, 4_920_000_000, 4.89) == pytest.approx(8.03e9, rel=0.01)
    # Gemma 2 2B ties its output to the embedding table: 2.61B parameters, not 3.2B
    assert parameter_count(GEMMA2_2B, 1_710_000_000, 4.89) == pytest.approx(2.61e9, rel=0.02)
    assert parameter_count(QWEN3_30B, 18_600_000_000, 4.89) == pytest.approx(30.5e9, rel=0.02)


def test_an_moe_token_reads_only_its_experts():
    read, experts = active_fraction(QWEN3_30B)
    assert experts == pytest.approx(0.95, abs=0.02)
    assert read * 30.5 == pytest.approx(3.3, rel=0.15)  # Qwen3-30B-A3B: ~3.3B active parameters


def test_split_time_adds_each_devices_share():
    quant = CATALOG.get("Q4_K_M")
    gpu_only = estimate(5_000_000_000, LLAMA31_8B, 0, 1.0, (1000.0, "t"), (50.0, "t"), quant, "cuda")
    half = estimate(5_000_000_000, LLAMA31_8B, 0, 0.5, (1000.0, "t"), (50.0, "t"), quant, "cuda")
    cpu_only = estimate(5_000_000_000, LLAMA31_8B, 0, 0.0, None, (50.0, "t"), quant, "cuda")
    assert (
        gpu_only.generation_tokens_per_second
        > half.generation_tokens_per_second
        > cpu_only.generation_tokens_per_second
    )
    assert half.bound_by == "cpu memory bandwidth (split)" and [r.device for r in half.reads] == ["gpu", "cpu"]


def test_few_cores_make_the_cpu_compute_bound():
    quant = CATALOG.get("Q4_K_M")
    many = estimate(5_000_000_000, LLAMA31_8B, 0, 0.0, None, (50.0, "t"), quant, "cpu", cpu_cores=16)
    two = estimate(5_000_000_000, LLAMA31_8B, 0, 0.0, None, (50.0, "t"), quant, "cpu", cpu_cores=2)
    assert two.generation_tokens_per_second < many.generation_tokens_per_second
    assert two.bound_by == "cpu compute" and "CPU cores" in two.basis


def test_kernel_factors():
    assert kernel_factor(CATALOG.get("IQ3_S"), "cuda")[0] == 1.0
    assert kernel_factor(CATALOG.get("IQ3_S"), "cpu")[0] == CODEBOOK_FACTOR_CPU
    assert kernel_factor(CATALOG.get("IQ3_S"), "metal")[0] == CODEBOOK_FACTOR_GPU
    assert kernel_factor(CATALOG.get("IQ4_XS"), "cpu")[0] == CPU_KERNEL_FACTORS["IQ4_XS"]
    assert kernel_factor(CATALOG.get("IQ4_XS"), "metal")[0] == 0.8
    assert kernel_factor(CATALOG.get("Q4_K_M"), "metal")[0] == 1.0
    assert kernel_factor(CATALOG.get("Q4_K_M"), "cpu") == (1.0, None)  # the CPU's reference
    assert kernel_factor(CATALOG.get("Q3_K_M"), "cpu")[0] == CPU_KERNEL_FACTORS["Q3_K"]


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("Q4_K_M", "Q4_K"),
        ("Q3_K_L", "Q3_K"),
        ("Q6_K", "Q6_K"),
        ("Q4_K_L", "Q4_K"),  # an uploader variant: its base
        ("UD-Q4_K_XL", "Q4_K"),
        ("IQ4_NL", "IQ4_XS"),
        ("IQ2_M", "IQ3_S"),
        ("Q4_0", "Q4_0"),
        ("Q8_0", "Q8_0"),
        ("BF16", "F16"),
    ],
)
def test_a_label_runs_the_kernels_of_its_main_type(label: str, kind: str) -> None:
    assert main_type(CATALOG.get(label)) == kind


def test_a_kernel_factor_scales_the_compute_bound_not_the_memory_one():
    q8 = CATALOG.get("Q8_0")
    q4 = CATALOG.get("Q4_K_M")
    # two cores: compute-bound, and Q8_0's kernels move more bytes a second than Q4_K's
    few_q8 = estimate(8_000_000_000, LLAMA31_8B, 0, 0.0, None, (100.0, "t"), q8, "cpu", cpu_cores=2)
    few_q4 = estimate(8_000_000_000, LLAMA31_8B, 0, 0.0, None, (100.0, "t"), q4, "cpu", cpu_cores=2)
    assert few_q8.generation_tokens_per_second > few_q4.generation_tokens_per_second
    # 32 cores: memory-bound, where the kernels' speed no longer matters
    many_q8 = estimate(8_000_000_000, LLAMA31_8B, 0, 0.0, None, (100.0, "t"), q8, "cpu", cpu_cores=32)
    many_q4 = estimate(8_000_000_000, LLAMA31_8B, 0, 0.0, None, (100.0, "t"), q4, "cpu", cpu_cores=32)

    def gbps(speed: SpeedEstimate) -> float:
        return speed.generation_tokens_per_second * speed.reads[0].bytes_per_token / 1e9

    assert gbps(many_q8) == pytest.approx(gbps(many_q4)) == pytest.approx(100.0 * 0.70)
    assert many_q8.bound_by == "cpu memory bandwidth"


TINY = ModelShape("llama", 4, 768, 4096, 12, 12, 64, 64, vocab_size=32000, feed_forward_length=2048)


def test_weights_that_fit_the_cpu_cache_run_at_cache_speed():
    quant = CATALOG.get("Q4_K_M")
    args = (50_000_000, TINY, 0, 0.0, None, (25.0, "t"), quant, "cpu")
    from_ram = estimate(*args, cpu_cores=2, cpu_cache_bytes=4 * 2**20)
    cached = estimate(*args, cpu_cores=2, cpu_cache_bytes=128 * 2**20)
    per_token = cached.reads[0].bytes_per_token
    assert from_ram.generation_tokens_per_second == pytest.approx(2 * CPU_CORE_GBPS * 1e9 / per_token)
    assert cached.generation_tokens_per_second == pytest.approx(2 * CACHE_CORE_GBPS * 1e9 / per_token)
    assert cached.bound_by == "cpu compute (weights in cache)" and "fit in its cache" in cached.basis
    assert "in the CPU's caches" in cached.source and "caches" not in from_ram.source
    # only the weights' share of the cache counts
    needed = per_token / WEIGHTS_CACHE_SHARE
    assert WEIGHTS_CACHE_SHARE < 1
    assert estimate(*args, cpu_cores=2, cpu_cache_bytes=int(needed) - 10**6).bound_by == "cpu compute"
    assert "cache" in estimate(*args, cpu_cores=2, cpu_cache_bytes=int(needed) + 10**6).bound_by


def test_an_moe_on_the_cpu_caches_all_its_experts_or_none():
    quant = CATALOG.get("Q4_K_M")
    # a token of Qwen3-30B-A3B at 80 MB reads ~9 MB, but over many tokens every expert: nothing stays cached
    moe = estimate(
        80_000_000, QWEN3_30B, 0, 0.0, None, (25.0, "t"), quant, "cpu", cpu_cores=2, cpu_cache_bytes=64 * 2**20
    )
    assert moe.reads[0].bytes_per_token < 16_000_000 and "cache" not in moe.bound_by


def test_gemma_files_are_tied_whatever_their_size_says():
    # the real Gemma 3 270M Q4_K_M: 253 MB, 72% of it a Q8_0 token_embd, so its size looks like two tables
    gemma3_270m = ModelShape(
        "gemma3", 18, 640, 32768, 4, 1, 256, 256, vocab_size=262144, feed_forward_length=2048, sliding_window=512
    )
    assert parameter_count(gemma3_270m, 253_113_024, 4.89) == pytest.approx(268e6, rel=0.03)
    read, _ = active_fraction(gemma3_270m, 253_113_024 * 8 / 4.89)
    assert read == pytest.approx(1.0, abs=0.01)  # the tied output matrix: every byte is read for every token
    llama = ModelShape("llama", 18, 640, 32768, 4, 1, 256, 256, vocab_size=262144, feed_forward_length=2048)
    assert active_fraction(llama, 253_113_024 * 8 / 4.89)[0] < 0.7  # size alone: an untied file
