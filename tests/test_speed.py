"""The speed model with plain data: bytes per token, devices, kernels, and parameter counts."""

import pytest

from quantpick.catalog import load_catalog
from quantpick.gguf import ModelShape
from quantpick.rules import MOE_REFERENCE
from quantpick.speed import active_fraction, estimate, kernel_factor, parameter_count

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
    assert kernel_factor(CATALOG.get("IQ3_S"), "cpu")[0] == 0.5
    assert kernel_factor(CATALOG.get("IQ4_XS"), "cpu")[0] == 1.0
    assert kernel_factor(CATALOG.get("IQ4_XS"), "metal")[0] == 0.8
    assert kernel_factor(CATALOG.get("Q4_K_M"), "metal")[0] == 1.0
