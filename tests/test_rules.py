"""The rules as a pure function: plain data in, a pick with reasons out. No server, no disk."""

import pytest

from quantpick.catalog import load_catalog
from quantpick.cli.errors import render
from quantpick.errors import InvalidValue, NoFitError, UsageError
from quantpick.gguf import ModelShape
from quantpick.hardware import Cpu, Gpu, Hardware, Ram
from quantpick.naming import RepoFile, parse_repo_files
from quantpick.rules import MOE_REFERENCE, Options, compute_budget, plan_without_repo, recommend

GiB = 1024**3
GB = 1000**3
CATALOG = load_catalog()
LLAMA3_8B = ModelShape("llama", 32, 4096, 8192, 32, 8, vocab_size=128256, feed_forward_length=14336)
QWEN_72B = ModelShape("qwen2", 80, 8192, 32768, 64, 8, 128, 128, vocab_size=152064)
QWEN3_30B_MOE = MOE_REFERENCE[2]  # Qwen3-30B-A3B's shape, as the no-repo plan uses it

# bartowski/Meta-Llama-3.1-8B-Instruct-GGUF-like file sizes (GB)
SIZES_8B = {
    "F16": 16.1,
    "Q8_0": 8.54,
    "Q6_K_L": 6.85,
    "Q6_K": 6.6,
    "Q5_K_L": 6.06,
    "Q5_K_M": 5.73,
    "Q5_K_S": 5.6,
    "Q4_K_L": 5.31,
    "Q4_K_M": 4.92,
    "Q4_K_S": 4.69,
    "Q4_0": 4.66,
    "IQ4_NL": 4.68,
    "IQ4_XS": 4.45,
    "Q3_K_XL": 4.78,
    "Q3_K_L": 4.32,
    "Q3_K_M": 4.02,
    "IQ3_M": 3.78,
    "Q3_K_S": 3.66,
    "IQ3_XS": 3.52,
    "Q2_K_L": 3.69,
    "Q2_K": 3.18,
    "IQ2_M": 2.95,
}


def repo(sizes: dict[str, float], stem="Model", extra: list[RepoFile] = ()):
    files = [RepoFile(f"{stem}-{q}.gguf", int(gb * GB)) for q, gb in sizes.items()] + list(extra)
    return parse_repo_files(files, CATALOG)


def gpu_machine(vram_gib: float, ram_gib: float = 32, backend="cuda", flags=None) -> Hardware:
    vram = int(vram_gib * GiB)
    return Hardware(
        Ram(int(ram_gib * GiB), int(ram_gib * GiB), "test"),
        [Gpu("nvidia", "GPU", vram, vram, vram, "test")],
        Cpu(flags=flags or {"avx2": True}),
        backend,
    )


def cpu_machine(ram_gib: float, flags=None) -> Hardware:
    return Hardware(Ram(int(ram_gib * GiB), int(ram_gib * GiB), "test"), [], Cpu(flags=flags or {"avx2": True}), "cpu")


def pick(hw, parsed, shape=LLAMA3_8B, **options):
    return recommend(hw, parsed, shape, CATALOG, Options(**options), repo="org/repo")


# --- seed-card examples -----------------------------------------------------------------------------------


def texts(reasons):
    return [r.text for r in reasons]


def test_12_gib_gpu_takes_the_best_file_that_fits_with_its_kv_cache():
    result = pick(gpu_machine(12), repo(SIZES_8B))
    assert result.pick.label == "Q8_0" and result.pick.placement == "gpu" and result.mode == "speed"
    assert result.pick.gpu_layers == 33
    assert result.reserve.kv_cache_bytes == 1 * GiB  # 8192 tokens x 128 KiB
    assert any("fits GPU" in r for r in texts(result.pick.reasons))


def test_8_gib_gpu_on_cuda():
    # llama-server's compute buffer (one output row per slot) leaves room for Q6_K_L all on the GPU
    assert pick(gpu_machine(8), repo(SIZES_8B)).pick.label == "Q6_K_L"
    result = pick(gpu_machine(7.75), repo(SIZES_8B))
    # Q6_K all on the GPU (~35 tok/s) beats Q6_K_L split with RAM: the same measured loss, faster
    assert result.pick.label == "Q6_K" and result.pick.placement == "gpu"
    assert result.pick.speed is not None and result.pick.speed.generation_tokens_per_second >= 20
    assert result.pick.reasons[0].code == "best_quality_at_speed" and "all-GPU" in result.pick.reasons[0].text


def test_8_gib_cpu_only_machine_and_repacking_note():
    # reserve 1.16 GiB: KV 1 GiB + compute 0.13 GiB + output and runtime 0.03 GiB (CPU: no GPU context)
    assert pick(cpu_machine(8), repo(SIZES_8B)).pick.label == "Q5_K_L"  # usable RAM 7 GiB
    assert pick(cpu_machine(7.4), repo(SIZES_8B)).pick.label == "Q5_K_S"  # 6.4 GiB: Q5_K_M is 0.1 GiB too big
    result = pick(cpu_machine(7), repo(SIZES_8B))
    assert result.pick.label == "Q4_K_M" and result.pick.placement == "cpu"  # Q4_K_L is 0.11 GiB too big
    assert result.pick.gpu_layers == 0
    assert [n.text for n in result.notes if n.code == "cpu_repack"] == [
        "Q4_K_M is repacked online on this CPU (avx2): faster prompt processing for the weights kept in RAM"
    ]


def test_repack_notes_follow_the_catalog_and_the_cpu_flags():
    arm = cpu_machine(7.4)
    arm.cpu.flags = {"neon": True, "dotprod": True}
    result = pick(arm, repo(SIZES_8B))
    assert result.pick.label == "Q5_K_S"  # Q5_K's cpu_repack lists neon_dotprod: repacked on this CPU
    assert [n.code for n in result.notes] == ["cpu_repack"] and "neon_dotprod" in result.notes[0].text
    x86 = pick(cpu_machine(7.4), repo(SIZES_8B))
    assert x86.pick.label == "Q5_K_S" and not [n for n in x86.notes if n.code.startswith("cpu_repack")]
    amx = pick(cpu_machine(7.4, flags={"avx2": True, "amx": True, "avx512_vnni": True}), repo(SIZES_8B))
    assert [n.code for n in amx.notes] == ["cpu_repack"] and "(amx)" in amx.notes[0].text  # ggml-cpu/amx: Q5_K


def test_i_quants_compete_on_quality_on_cuda_and_pay_for_kernels_elsewhere():
    # room for IQ3_M (3.78 GB) but not Q3_K_M (4.02 GB)
    budget = 3.9 * GB / GiB + 1
    on_cuda = pick(gpu_machine(budget), repo(SIZES_8B), reserve_bytes=1 * GiB, min_speed=60)  # all on the GPU
    assert on_cuda.pick.label == "IQ3_M"  # better measured loss than Q3_K_S, fast enough
    labels = {c.label: c for c in on_cuda.candidates}
    size_ratio = labels["Q3_K_S"].size_bytes / labels["IQ3_M"].size_bytes
    cuda_ratio = (
        labels["IQ3_M"].speed.generation_tokens_per_second / labels["Q3_K_S"].speed.generation_tokens_per_second
    )
    assert cuda_ratio == pytest.approx(size_ratio, rel=0.01)  # only the bytes differ on CUDA
    on_vulkan = pick(gpu_machine(budget, backend="vulkan"), repo(SIZES_8B), reserve_bytes=1 * GiB, min_speed=60)
    assert on_vulkan.pick.label == "Q3_K_S"  # the I-quant kernels are too slow for 60 tok/s there
    vulkan = {c.label: c for c in on_vulkan.candidates}
    assert "I-quant kernels" in vulkan["IQ3_M"].speed.basis
    assert vulkan["IQ3_M"].speed.generation_tokens_per_second < vulkan["Q3_K_S"].speed.generation_tokens_per_second


def test_iq4_is_not_slowed_on_cpu():
    result = pick(cpu_machine(64), repo({"IQ4_XS": 4.45, "Q4_K_S": 4.69}))
    speeds = {c.label: c.speed.generation_tokens_per_second for c in result.candidates}
    assert speeds["IQ4_XS"] > speeds["Q4_K_S"]  # IQ4 kernels run as fast as K-quants on CPUs (PR #5747)


def test_without_a_fast_enough_candidate_the_fastest_above_the_floor():
    only_small = {"Q3_K_M": 4.02, "IQ2_M": 2.95, "IQ3_XS": 3.52, "IQ1_M": 2.16}
    result = pick(cpu_machine(3.6 * GB / GiB + 1 + 1), repo(only_small), reserve_bytes=1 * GiB, min_speed=1000)
    assert result.pick.label == "IQ2_M"  # IQ1_M is faster but below the floor (IQ2_XS)
    assert result.pick.reasons[0].code == "too_slow_fastest"
    assert "below_min_speed" in [n.code for n in result.notes]
    floor_off = pick(
        cpu_machine(3.6 * GB / GiB + 1 + 1), repo(only_small), reserve_bytes=1 * GiB, min_speed=1000, quality_floor=None
    )
    assert floor_off.pick.label == "IQ1_M"


def test_quality_mode_adds_ram_and_offloads_layers_split_72b():
    files = []
    for q, gb, shards in (("Q8_0", 77.3, 3), ("Q4_K_M", 47.4, 2), ("Q3_K_M", 37.7, 1), ("IQ2_M", 27.0, 1)):
        if shards == 1:
            files.append(RepoFile(f"Qwen2.5-72B-Instruct-{q}.gguf", int(gb * GB)))
        else:
            files += [
                RepoFile(
                    f"Qwen2.5-72B-Instruct-{q}/Qwen2.5-72B-Instruct-{q}-{n:05d}-of-{shards:05d}.gguf",
                    int(gb * GB / shards),
                )
                for n in range(1, shards + 1)
            ]
    parsed = parse_repo_files(files, CATALOG)
    result = pick(gpu_machine(24, ram_gib=48), parsed, shape=QWEN_72B, mode="quality")
    assert result.pick.label == "Q4_K_M" and result.pick.placement == "gpu+cpu" and result.mode == "quality"
    assert len(result.pick.files) == 2
    assert 10 < result.pick.gpu_layers < 80
    assert any("-ngl" in r for r in texts(result.pick.reasons))
    assert pick(gpu_machine(24, ram_gib=48), parsed, shape=QWEN_72B).mode == "quality"  # nothing fits 24 GiB
    auto = pick(gpu_machine(32, ram_gib=48), parsed, shape=QWEN_72B)
    assert auto.pick.label == "IQ2_M" and auto.mode == "speed"  # auto: speed when something fits the GPU


def test_auto_falls_back_to_quality_and_says_so():
    result = pick(gpu_machine(4), repo({"Q4_K_M": 4.92, "Q8_0": 8.54}))
    assert result.mode == "quality" and result.pick.placement == "gpu+cpu"
    assert any("does not fit in GPU memory alone" in n for n in texts(result.notes))


def test_128k_context_no_longer_fits():
    parsed = repo({"Q4_K_M": 4.92, "Q3_K_M": 4.02})
    assert pick(cpu_machine(16), parsed).pick.label == "Q4_K_M"
    with pytest.raises(NoFitError) as caught:
        pick(cpu_machine(16), parsed, ctx=131072)
    error = caught.value
    assert render(error).exit_code == 3 and "Q3_K_M" in error.message and "--" not in error.message
    assert error.details is not None and 256 <= error.details["fitting_ctx"] < 131072
    assert f"--ctx {error.details['fitting_ctx']} would fit" in render(error).hint
    assert "more memory" in render(error).hint and "--" not in (error.hint or "")


def test_speed_mode_takes_the_fastest_above_the_floor():
    sizes = {"Q4_K_M": 4.92, "Q8_0": 8.54, "IQ2_M": 2.95, "IQ2_XXS": 2.4}
    result = pick(gpu_machine(12), repo(sizes), mode="speed")
    assert result.pick.label == "IQ2_M" and result.pick.reasons[0].code == "fastest"
    assert pick(gpu_machine(12), repo(sizes), mode="quality").pick.label == "Q8_0"


def test_moe_keeps_experts_in_ram_instead_of_a_layer_split():
    parsed = repo({"Q8_0": 32.5, "Q4_K_M": 18.6, "UD-IQ1_S": 7.0})
    result = pick(gpu_machine(12, ram_gib=32), parsed, shape=QWEN3_30B_MOE)
    # not UD-IQ1_S all on the GPU: a file of Q4 level or better with its experts in RAM
    assert result.pick.quant.level >= 4 and result.pick.placement == "gpu+cpu"
    assert result.pick.gpu_layers == 49 and 0 < result.pick.cpu_moe_layers < 48
    assert any("--n-cpu-moe" in r for r in texts(result.pick.reasons))
    assert not any(r.code in ("moe_offload", "gpu_layers") for r in result.pick.reasons)  # no contradicting hint
    assert result.pick.speed.generation_tokens_per_second > 10  # 3B active parameters per token, experts in RAM


def test_floats_never_automatic_but_explicit_quant_works():
    parsed = repo({"F16": 16.1, "BF16": 16.1, "Q8_0": 8.54})
    assert pick(cpu_machine(64), parsed).pick.label == "Q8_0"
    explicit = pick(cpu_machine(64), parsed, quant="f16")
    assert explicit.pick.label == "F16" and explicit.pick.reasons[0].code == "chosen"


def test_explicit_quant_the_repo_lacks_is_a_usage_error():
    with pytest.raises(UsageError) as caught:
        pick(cpu_machine(64), repo({"Q8_0": 8.54}), quant="Q5_K_M")
    assert render(caught.value).exit_code == 2 and "Q8_0" in caught.value.hint


def test_mmproj_imatrix_unknown_dead_and_incomplete_are_never_picked():
    extra = [
        RepoFile("mmproj-F16.gguf", 1 * GB),
        RepoFile("Model.imatrix", 1000),
        RepoFile("Model-IQ4_KS.gguf", GB),
        RepoFile("Model-Q4_0_4_4.gguf", GB),
        RepoFile("big-Q6_K-00001-of-00002.gguf", GB),
    ]
    parsed = repo({"Q2_K": 3.18}, extra=extra)
    result = pick(cpu_machine(64), parsed)
    assert result.pick.label == "Q2_K"
    labels = {c.label: c for c in result.candidates}
    assert set(labels) == {"Q2_K", "IQ4_KS", "Q4_0_4_4", "Q6_K"}
    assert not labels["IQ4_KS"].eligible and "unknown" in labels["IQ4_KS"].reasons[0].text
    assert not labels["Q4_0_4_4"].eligible and "removed" in labels["Q4_0_4_4"].reasons[0].text
    assert not labels["Q6_K"].eligible and "incomplete" in labels["Q6_K"].reasons[0].text


def test_uploader_variants_rank_just_above_their_base():
    parsed = repo({"Q4_K_M": 4.92, "Q4_K_L": 5.31, "Q5_K_S": 5.6}, stem="a")
    assert pick(cpu_machine(64), parsed).pick.label == "Q5_K_S"
    assert pick(cpu_machine(64), repo({"Q4_K_M": 4.92, "Q4_K_L": 5.31})).pick.label == "Q4_K_L"
    unsloth = repo({"Q4_K_M": 18.6, "UD-Q4_K_XL": 17.7, "Q3_K_M": 14.0})
    result = pick(cpu_machine(64), unsloth, shape=QWEN3_30B_MOE)
    assert result.pick.label == "UD-Q4_K_XL"
    assert any("Unsloth" in r for r in texts(result.pick.reasons))


def test_ties_go_to_the_smaller_file():
    parsed = parse_repo_files([RepoFile("a/M-Q4_K_M.gguf", 5 * GB), RepoFile("b/M-Q4_K_M.gguf", 4 * GB)], CATALOG)
    assert pick(cpu_machine(64), parsed).pick.size_bytes == 4 * GB


def test_prefer_flags():
    parsed = repo(SIZES_8B)
    assert pick(cpu_machine(64), parsed, prefer="i").pick.label == "IQ4_NL"
    assert pick(cpu_machine(64), parsed, prefer="k").pick.label == "Q5_K_L"  # Q6_K and up: under 5 tok/s on DDR4
    assert pick(cpu_machine(64), parsed, prefer="k", ram_bandwidth_gbps=100).pick.label == "Q8_0"
    assert pick(cpu_machine(5.25), parsed, prefer="any", reserve_bytes=0).pick.label == "IQ4_XS"
    assert pick(cpu_machine(5.25), parsed, prefer="k", reserve_bytes=0).pick.label == "Q3_K_L"
    with pytest.raises(NoFitError):
        pick(cpu_machine(64), repo({"Q8_0": 8.54}), prefer="i")
    with pytest.raises(UsageError):
        Options(prefer="fastest")


def test_unknown_header_keeps_a_2_gib_reserve_and_says_so():
    result = pick(cpu_machine(16), repo({"Q4_K_M": 4.92}), shape=None)
    assert result.reserve.total_bytes == 2 * GiB and result.reserve.source == "default"
    assert any("2 GiB" in n for n in texts(result.notes))


def test_user_reserve_replaces_the_estimate():
    result = pick(gpu_machine(12), repo(SIZES_8B), reserve_bytes=int(0.5 * GiB))
    assert result.reserve.total_bytes == int(0.5 * GiB) and result.reserve.source == "user"


def test_backend_without_a_kernel_runs_on_cpu():
    result = pick(gpu_machine(24, ram_gib=16), repo({"TQ1_0": 2.0}), reserve_bytes=GiB)
    assert result.pick.placement == "cpu"
    assert any("no cuda kernel" in r for r in texts(result.pick.reasons))


# --- budgets ------------------------------------------------------------------------------------------


def test_budgets_sum_gpus_and_count_shared_memory_once():
    two = Hardware(
        Ram(64 * GiB, 60 * GiB, "t"),
        [Gpu("nvidia", "a", 24 * GiB, 0, 23 * GiB, "t"), Gpu("nvidia", "b", 24 * GiB, 0, 23 * GiB, "t")],
        Cpu(),
        "cuda",
    )
    budget = compute_budget(two)
    assert budget.speed_bytes == 46 * GiB and budget.quality_bytes == 46 * GiB + 60 * GiB
    apple = Hardware(
        Ram(64 * GiB, 60 * GiB, "t"),
        [Gpu("apple", "M3", 64 * GiB, None, 48 * GiB, "t", shared_with_ram_bytes=48 * GiB, unified=True)],
        Cpu(),
        "metal",
    )
    budget = compute_budget(apple)
    assert budget.speed_bytes == 48 * GiB and budget.quality_bytes == 60 * GiB  # RAM counted once
    gb10 = Hardware(
        Ram(128 * GiB, 120 * GiB, "t"), [Gpu("nvidia", "GB10", None, None, None, "t", unified=True)], Cpu(), "cuda"
    )
    budget = compute_budget(gb10)
    assert budget.speed_bytes == budget.quality_bytes == 124 * GiB
    apu = Hardware(
        Ram(60 * GiB, 50 * GiB, "t"),
        [Gpu("amd", "APU", 36 * GiB, None, 36 * GiB, "t", shared_with_ram_bytes=32 * GiB, unified=True)],
        Cpu(),
        "cpu",
    )
    assert compute_budget(apu).quality_bytes == 36 * GiB + 56 * GiB - 32 * GiB


def test_without_a_repo_common_sizes():
    budget, plans = plan_without_repo(gpu_machine(12), CATALOG, Options(), (1.0, 8.0, 12.0, 70.0))
    rows = {p.params_billions: p for p in plans}
    assert rows[8.0].speed.label == "Q8_0"
    assert rows[12.0].reference_shape == "14B reference"
    assert rows[70.0].speed is None and rows[70.0].quality.placement == "gpu+cpu"
    assert all(not c.quant.is_float for p in plans for c in (p.speed, p.quality) if c)


def test_busy_gpu_gets_a_note_not_a_different_pick():
    hw = gpu_machine(12)
    hw.gpus[0].free_bytes = 2 * GiB
    result = pick(hw, repo(SIZES_8B))
    assert result.pick.label == "Q8_0"
    assert any("2.00 GiB of GPU memory is free right now" in n for n in texts(result.notes))


GEMMA3_27B = ModelShape(
    "gemma3", 62, 5376, 131072, 32, 16, 128, 128, sliding_window=1024, vocab_size=262144, feed_forward_length=21504
)
# unsloth/gemma-3-27b-it-GGUF-like file sizes (GB)
SIZES_27B = {"Q8_0": 28.7, "Q6_K": 22.2, "Q5_K_M": 19.3, "Q4_K_M": 16.5, "Q3_K_M": 13.4, "IQ2_M": 9.7, "IQ1_M": 6.9}


def test_gemma3_27b_on_12_gib_is_not_iq2_m_all_on_the_gpu():
    result = pick(gpu_machine(12, ram_gib=32), repo(SIZES_27B), shape=GEMMA3_27B)
    assert result.pick.label != "IQ2_M" and result.pick.quant.level >= 3 and result.pick.placement == "gpu+cpu"
    assert result.pick.speed.generation_tokens_per_second >= 5
    rival = result.pick.reasons[0].text
    assert "Q3_K_M split" in rival and "IQ2_M" in rival  # the trade-off against the faster rival is named
    assert pick(gpu_machine(12, ram_gib=32), repo(SIZES_27B), shape=GEMMA3_27B, mode="speed").pick.label == "IQ2_M"


def test_70b_on_a_24_gib_cpu_machine_is_never_offered_below_the_floor():
    _, plans = plan_without_repo(cpu_machine(24), CATALOG, Options(), (70.0,))
    row = next(p for p in plans if p.params_billions == 70.0)
    assert all(c is None or not c.below_floor for c in (row.pick, row.speed, row.quality))


def test_two_unequal_gpus_split_by_budget_each_with_its_compute_buffer():
    hw = gpu_machine(24)
    hw.gpus.append(Gpu("nvidia", "RTX 3060", 12 * GiB, 12 * GiB, 12 * GiB, "test", index=1, bandwidth_gbps=360.0))
    hw.gpus[0].bandwidth_gbps = 1008.0
    one = pick(gpu_machine(36), repo(SIZES_8B))
    two = pick(hw, repo(SIZES_8B))
    assert two.pick.tensor_split == (24, 12)
    assert two.reserve.compute_bytes > one.reserve.compute_bytes  # a compute buffer on each GPU
    assert two.reserve.gpu_runtime_bytes == 2 * one.reserve.gpu_runtime_bytes
    with pytest.raises(InvalidValue) as caught:
        pick(hw, repo(SIZES_8B), gpu_bandwidth_gbps=(1008.0, 360.0, 448.0))
    assert caught.value.field == "gpu_bandwidth"


def test_unknown_bandwidth_is_assumed_and_said():
    result = pick(gpu_machine(12), repo(SIZES_8B))
    assert "assumed 360 GB/s" in result.pick.speed.source and "--gpu-bandwidth" in result.pick.speed.source
    given = pick(gpu_machine(12), repo(SIZES_8B), gpu_bandwidth_gbps=(720.0,))
    assert given.pick.speed.generation_tokens_per_second > result.pick.speed.generation_tokens_per_second
    assert all(c.speed is not None for c in result.candidates if c.fits)


def test_a_tiny_model_in_a_big_cpu_cache_runs_at_cache_speed():
    small = ModelShape("llama", 4, 768, 4096, 12, 12, 64, 64, vocab_size=32000, feed_forward_length=2048)
    files = repo({"Q4_K_M": 0.05, "Q8_0": 0.09})
    box = cpu_machine(8)
    plain = pick(box, files, small, quant="Q4_K_M")
    box.cpu.cache_bytes, box.cpu.cache_source = 128 * 2**20, "test"
    cached = pick(box, files, small, quant="Q4_K_M")
    assert cached.pick.speed.bound_by == "cpu compute (weights in cache)"
    assert cached.pick.speed.generation_tokens_per_second > plain.pick.speed.generation_tokens_per_second


def test_an_implausible_cache_from_a_file_is_ignored():
    small = ModelShape("llama", 4, 768, 4096, 12, 12, 64, 64, vocab_size=32000, feed_forward_length=2048)
    box = cpu_machine(8)
    box.cpu.cache_bytes = 1 << 50  # a hand-edited file: 1 PiB of cache
    result = pick(box, repo({"Q4_K_M": 0.05}), small, quant="Q4_K_M")
    assert "cache" not in result.pick.speed.bound_by
