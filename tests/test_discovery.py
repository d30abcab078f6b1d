"""From a base model's name to a GGUF pick: the Hub's base_model:quantized tag, and `quantpick search`."""

import pytest

from conftest import TINY_META, GiB, scaled
from localhub import gguf_file

BASE = "inclusionAI/Ling-lite"
TAG = f"base_model:quantized:{BASE}"


@pytest.fixture(scope="module", autouse=True)
def quantizations(hub):
    hub.add_repo(BASE, {"config.json": b"{}", "model.safetensors": b"\0" * 2048}, tags=["safetensors"], downloads=9000)
    hub.add_repo(
        "mradermacher/Ling-lite-GGUF",
        {
            f"Ling-lite.{q}.gguf": gguf_file(scaled(gb), TINY_META, seed=i)
            for i, (q, gb) in enumerate({"Q4_K_M": 4.9, "Q8_0": 8.5}.items())
        },
        tags=["gguf", TAG],
        downloads=1000,
        parameters=8_000_000_000,
    )
    hub.add_repo(
        "bartowski/inclusionAI_Ling-lite-GGUF",
        {
            **{
                f"inclusionAI_Ling-lite-{q}.gguf": gguf_file(scaled(gb), TINY_META, seed=10 + i)
                for i, (q, gb) in enumerate({"Q4_K_M": 4.9, "Q6_K": 6.6, "Q8_0": 8.5}.items())
            },
            "inclusionAI_Ling-lite.imatrix": b"imatrix",
        },
        tags=["gguf", TAG],
        downloads=500,
        parameters=8_000_000_000,
    )
    hub.add_repo(
        "nobody/Ling-lite-GGUF",
        {"Ling-lite-Q2_K.gguf": gguf_file(scaled(3.2), TINY_META, seed=30)},
        tags=["gguf", TAG],
        downloads=3,
        parameters=8_000_000_000,
    )
    hub.add_repo("other/Unrelated-GGUF", {"U-Q4_K_M.gguf": gguf_file(scaled(4.9), TINY_META, seed=40)}, downloads=99999)


def test_a_base_model_finds_its_quantizations_and_picks_across_uploaders(cli, hub, hardware_file):
    hw = hardware_file(ram=64 * GiB, gpus=[12 * GiB])
    hub.reset_counts()
    result = cli("recommend", BASE, "--hardware", hw, "--json")
    assert result.exit_code == 0, result.stderr
    found = result.json["discovery"]
    assert [h["repo"] for h in found["found"]] == [
        "mradermacher/Ling-lite-GGUF",
        "bartowski/inclusionAI_Ling-lite-GGUF",
        "nobody/Ling-lite-GGUF",
    ]
    assert [c["repo"] for c in found["compared"]] == [h["repo"] for h in found["found"]]
    assert found["chosen"] == result.json["repo"] and result.json["pick"]["quant"] in ("Q6_K", "Q8_0")
    assert result.json["pick"]["command"].startswith(f"llama-server -hf {found['chosen']}:")
    assert hub.count("GET", "/api/models") >= 1 and hub.count() <= 1 + 1 + 3 * 2  # base, search, 3 x (listing+header)
    human = cli("recommend", BASE, "--hardware", hw)
    assert "has no GGUF files" in human.stdout and f"chose {found['chosen']}" in human.stdout


def test_repo_only_keeps_the_strict_answer(cli, hardware_file):
    hw = hardware_file(ram=64 * GiB, gpus=[])
    result = cli("recommend", BASE, "--hardware", hw, "--repo-only")
    assert result.exit_code == 4 and "has no GGUF model files" in result.stderr


def test_get_downloads_from_the_chosen_repo(cli, hardware_file):
    hw = hardware_file(ram=64 * GiB, gpus=[12 * GiB])
    result = cli("get", BASE, "--hardware", hw, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert "Ling-lite" in result.json["files"][0]["repo_path"] and result.json["repo"] != BASE
    assert "has no GGUF files" in result.stderr


def test_search_finds_gguf_repos_by_name_with_sizes_and_offline(cli, hub, hardware_file, monkeypatch):
    from huggingface_hub import constants

    hw = hardware_file(ram=16 * GiB, gpus=[])
    hub.reset_counts()
    result = cli("search", "ling", "lite", "--hardware", hw, "--json")
    assert result.exit_code == 0, result.stderr
    repos = result.json["repos"]
    assert [r["repo"] for r in repos] == []  # 'ling lite' is not a substring of any id
    result = cli("search", "ling-lite", "--hardware", hw, "--json")
    repos = result.json["repos"]
    assert [r["repo"] for r in repos][:2] == ["mradermacher/Ling-lite-GGUF", "bartowski/inclusionAI_Ling-lite-GGUF"]
    assert BASE not in [r["repo"] for r in repos]  # not a GGUF repo
    from quantpick.catalog import load_catalog

    bpw = load_catalog().get("Q4_K_M").bpw_effective
    assert repos[0]["est_q4_k_m_bytes"] == int(8e9 * bpw / 8) and repos[0]["verdict"] == "fits RAM"
    assert hub.count("GET", "/api/models") == 2
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset_counts()
    offline = cli("search", "ling-lite", "--hardware", hw, "--json")
    assert offline.exit_code == 0 and offline.json["cached"] is True and offline.json["repos"] == repos
    assert hub.count() == 0
    unseen = cli("search", "never-searched", "--hardware", hw)
    assert unseen.exit_code == 4 and "no saved search" in unseen.stderr


def test_discovery_works_offline_from_what_was_saved(cli, hub, hardware_file, monkeypatch):
    from huggingface_hub import constants

    hw = hardware_file(ram=64 * GiB, gpus=[12 * GiB])
    online = cli("recommend", BASE, "--hardware", hw, "--json").json
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset_counts()
    offline = cli("recommend", BASE, "--hardware", hw, "--json")
    assert offline.exit_code == 0, offline.stderr
    assert offline.json["discovery"]["cached"] is True and offline.json["repo"] == online["repo"]
    assert offline.json["pick"]["quant"] == online["pick"]["quant"] and hub.count() == 0
