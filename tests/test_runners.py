"""Handing a file to Ollama and LM Studio, with plain files on disk."""

import pytest

from localhub import gguf_header, llama_metadata
from quantpick.errors import UsageError
from quantpick.gguf import read_stop_tokens
from quantpick.runners import link_lmstudio, ollama_name, write_ollama


def header(**extra) -> bytes:
    meta = llama_metadata(vocab=10)
    meta["tokenizer.ggml.tokens"] = ["<unk>", "<s>", "</s>", "<|im_end|>", *(f"t{i}" for i in range(6))]
    return gguf_header({**meta, **extra})


def test_stop_tokens_before_or_after_the_vocabulary():
    assert read_stop_tokens(header(**{"tokenizer.ggml.eos_token_id": 2})) == ["</s>"]
    both = {"tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.eot_token_id": 3}
    assert read_stop_tokens(header(**both)) == ["</s>", "<|im_end|>"]
    first = llama_metadata(vocab=4)
    ordered = {"tokenizer.ggml.eos_token_id": 1, **first}
    ordered["tokenizer.ggml.tokens"] = ["a", "END", "c", "d"]
    assert read_stop_tokens(gguf_header(ordered)) == ["END"]
    assert read_stop_tokens(header(**{"tokenizer.ggml.eos_token_id": 99})) == []  # past the vocabulary


def test_the_modelfile(tmp_path):
    model = tmp_path / "M-Q4_K_M.gguf"
    model.write_bytes(header(**{"tokenizer.ggml.eos_token_id": 3}) + b"\0" * 64)
    handoff = write_ollama(model, 1, "owner/Some_Model-GGUF", "Q4_K_M", 4096, tmp_path / "out", None)
    text = (tmp_path / "out" / "Modelfile").read_text()
    assert f"FROM {model}\n" in text and "PARAMETER num_ctx 4096\n" in text and 'PARAMETER stop "<|im_end|>"' in text
    assert handoff.commands[1] == "ollama run some_model-gguf:q4_k_m"
    with pytest.raises(UsageError):
        write_ollama(model, 2, "owner/M-GGUF", "Q4_K_M", 4096, tmp_path / "out", None)


def test_ollama_names():
    assert ollama_name("bartowski/Qwen_Qwen3-8B-GGUF", "UD-Q4_K_XL") == "qwen_qwen3-8b-gguf:ud-q4_k_xl"


def test_lmstudio_links(tmp_path):
    cached = tmp_path / "blob"
    cached.write_bytes(b"weights")
    snapshot = tmp_path / "M-Q4_K_M.gguf"
    snapshot.symlink_to(cached)
    handoff = link_lmstudio([snapshot], "owner/M-GGUF", tmp_path / "lms")
    link = tmp_path / "lms" / "owner" / "M-GGUF" / "M-Q4_K_M.gguf"
    assert handoff.written == [link] and link.resolve() == cached.resolve() and link.read_bytes() == b"weights"
