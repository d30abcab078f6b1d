"""The forms people paste for a model, parsed without the network."""

import pytest

from quantpick.errors import UsageError
from quantpick.repo_ref import RepoRef, parse_repo_ref


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("bartowski/Qwen_Qwen3-8B-GGUF", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF")),
        ("bartowski/Qwen_Qwen3-8B-GGUF:q4_k_m", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF", quant="Q4_K_M")),
        ("hf.co/bartowski/Qwen_Qwen3-8B-GGUF", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF")),
        ("hf.co/unsloth/gemma-3-27b-it-GGUF:UD-Q4_K_XL", RepoRef("unsloth/gemma-3-27b-it-GGUF", quant="UD-Q4_K_XL")),
        ("https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF")),
        ("https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF")),
        ("huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/tree/v2", RepoRef("bartowski/Qwen_Qwen3-8B-GGUF", "v2")),
        (
            "https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/blob/main/Qwen_Qwen3-8B-Q4_K_M.gguf",
            RepoRef("bartowski/Qwen_Qwen3-8B-GGUF", "main", file="Qwen_Qwen3-8B-Q4_K_M.gguf"),
        ),
        (
            "https://hf.co/unsloth/M-GGUF/resolve/abc123/Q4_K_M/M-Q4_K_M-00001-of-00002.gguf?download=true",
            RepoRef("unsloth/M-GGUF", "abc123", file="Q4_K_M/M-Q4_K_M-00001-of-00002.gguf"),
        ),
    ],
)
def test_every_pasted_form(text, ref):
    assert parse_repo_ref(text) == ref


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("https://github.com/ggml-org/llama.cpp", "only Hugging Face URLs"),
        ("https://huggingface.co/datasets/owner/data", "a datasets page"),
        ("https://huggingface.co/bartowski", "no OWNER/NAME"),
        ("Qwen3-8B", "exactly one '/'"),
        ("a/b/c", "exactly one '/'"),
        ("owner/name:Q4 K", "not a quant name"),
        ("https://huggingface.co/o/n/commits/main", "/commits URL"),
        ("", "empty"),
    ],
)
def test_bad_forms_name_the_valid_ones(text, why):
    with pytest.raises(UsageError) as caught:
        parse_repo_ref(text)
    assert why in caught.value.message and "OWNER/NAME:Q4_K_M" in (caught.value.hint or "")
