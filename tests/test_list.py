"""`quantpick list` against the local hub: the real huggingface_hub client over real HTTP."""

import pytest

from conftest import BARTOWSKI_QUANTS, scaled


def test_bartowski_repo_of_25_quants_in_two_requests(cli, hub):
    hub.reset_counts()
    result = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    assert result.exit_code == 0, result
    data = result.json
    assert data["schema_version"] == 1 and len(data["revision"]) == 40
    quants = {q["quant"]: q for q in data["quants"]}
    assert set(quants) == set(BARTOWSKI_QUANTS)
    sizes = [q["size_bytes"] for q in data["quants"]]
    assert sizes == sorted(sizes)
    assert quants["Q4_K_L"]["variant_of"] == "Q4_K_M" and quants["Q4_0_4_4"]["loadable"] is False
    assert quants["Q6_K"]["size_bytes"] == scaled(BARTOWSKI_QUANTS["Q6_K"])
    assert len(quants["Q6_K"]["files"][0]["sha256"]) == 64
    assert {(o["path"], o["kind"]) for o in data["other_files"]} == {
        ("Qwen_Qwen3-8B.imatrix", "imatrix"),
        ("README.md", "non-gguf"),
    }
    assert data["model"]["block_count"] == 32 and data["model"]["head_count_kv"] == 2
    assert hub.count() == 2 and hub.count("GET", "/resolve/") == 1
    header_request = next(r for r in hub.requests if "/resolve/" in r.path)
    assert header_request.range.startswith("bytes=0-") and data["revision"] in header_request.path


def test_second_list_reads_the_header_from_memory(cli, hub):
    cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    hub.reset_counts()
    result = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    assert result.json["model"]["block_count"] == 32
    assert hub.count() == 1


def test_split_repo_sums_shards(cli):
    data = cli("list", "bartowski/Qwen2.5-72B-Instruct-GGUF", "--json").json
    quants = {q["quant"]: q for q in data["quants"]}
    assert quants["Q8_0"]["shards"] == 2 and len(quants["Q8_0"]["files"]) == 2 and quants["Q8_0"]["complete"]
    assert quants["Q8_0"]["size_bytes"] == sum(f["size_bytes"] for f in quants["Q8_0"]["files"])
    assert quants["Q8_0"]["files"][0]["path"].endswith("-00001-of-00002.gguf")
    assert data["model"]["block_count"] == 32  # read from the first shard of the smallest quant


def test_unsloth_repo_with_mmproj_and_imatrix(cli):
    data = cli("list", "unsloth/Qwen3-30B-A3B-GGUF", "--json").json
    labels = [q["quant"] for q in data["quants"]]
    assert set(labels) == {"UD-Q4_K_XL", "Q4_K_M", "UD-IQ2_M", "Q8_0", "UD-Q2_K_XL", "BF16"}
    kinds = {o["path"]: o["kind"] for o in data["other_files"]}
    assert kinds == {
        "mmproj-F16.gguf": "mmproj",
        "mmproj-BF16.gguf": "mmproj",
        "imatrix_unsloth.dat": "imatrix",
        "config.json": "non-gguf",
    }
    assert data["model"]["expert_count"] == 128


def test_lowercase_names(cli):
    data = cli("list", "Qwen/Qwen2.5-7B-Instruct-GGUF", "--json").json
    quants = {q["quant"]: q for q in data["quants"]}
    assert set(quants) == {"Q4_K_M", "Q5_K_M", "F16", "Q8_0"}
    assert quants["Q8_0"]["shards"] == 2


def test_human_table(cli):
    result = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF")
    assert result.exit_code == 0
    assert "Q4_K_L" in result.stdout and "variant of Q4_K_M" in result.stdout and " MB" in result.stdout
    assert "removed from llama.cpp" in result.stdout and "imatrix" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["list", "nobody/missing-GGUF"], "repo_not_found", "-GGUF"),
        (["list", "bartowski/Qwen_Qwen3-8B-GGUF", "--revision", "v9"], "revision_not_found", "without a revision"),
        (["list", "org/safetensors-only"], "no_gguf", "GGUF"),
    ],
)
def test_hub_errors_exit_4_with_a_hint(cli, args, code, words):
    result = cli(*args, "--json")
    assert result.exit_code == 4, result
    error = result.json["error"]
    assert error["code"] == code and words in error["hint"]
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_invalid_repo_id_is_a_usage_error(cli):
    result = cli("list", "not-a-repo-id", "--json")
    assert result.exit_code == 2 and result.json["error"]["code"] == "invalid_repo_id"


def test_gated_repo_lists_without_a_token(cli, hub):
    hub.reset_counts()
    result = cli("list", "google/gemma-3-4b-it-GGUF", "--json")
    assert result.exit_code == 0
    assert {q["quant"] for q in result.json["quants"]} == {"Q4_K_M", "Q8_0"}
    assert result.json["model"] is None and "gated" in result.json["model_source"] and result.json["gated"]
    human = cli("list", "google/gemma-3-4b-it-GGUF")
    assert "gated repo" in human.stderr and "HF_TOKEN" in human.stderr
    assert hub.count("GET", "/resolve/") == 2  # a refused header is not remembered: asked again with each run


def test_network_unreachable_fails_fast(cli, monkeypatch):
    import socket
    import time

    from huggingface_hub import constants

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    assert result.exit_code == 4 and result.json["error"]["code"] == "network"
    assert time.monotonic() - started < 5


def test_a_hung_hub_times_out(cli, hub, monkeypatch):
    monkeypatch.setenv("QUANTPICK_TIMEOUT", "0.5")
    hub.hang_api = True
    result = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    hub.release.set()
    assert result.exit_code == 4 and result.json["error"]["code"] == "network"


def test_offline_uses_the_saved_listing_or_says_there_is_none(cli, hub, monkeypatch):
    from huggingface_hub import constants

    online = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json").json
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset_counts()
    offline = cli("list", "bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    assert offline.exit_code == 0 and hub.count() == 0
    assert offline.json["cached"] is True and offline.json["revision"] == online["revision"]
    assert offline.json["quants"] == online["quants"] and offline.json["model"] == online["model"]
    missing = cli("list", "unsloth/Qwen3-30B-A3B-GGUF", "--json")
    assert missing.exit_code == 4 and missing.json["error"]["code"] == "offline"
