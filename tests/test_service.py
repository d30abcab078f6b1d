"""The Python API (quantpick.service, re-exported from quantpick): the typed results the CLI renders."""

from __future__ import annotations

import subprocess
import sys

import pytest

import quantpick
from conftest import GiB
from quantpick.hardware import Cpu, Gpu, Hardware, Ram
from quantpick.service import GetPlan, RepoRecommendation

REPO = "bartowski/Qwen_Qwen3-8B-GGUF"


def machine(vram_gib: float = 8, ram_gib: float = 32) -> Hardware:
    gpus = [Gpu("nvidia", "test GPU", int(vram_gib * GiB), int(vram_gib * GiB), int(vram_gib * GiB), "test")]
    return Hardware(Ram(int(ram_gib * GiB), int(ram_gib * GiB), "test"), gpus, Cpu(flags={"avx2": True}), "cuda")


def test_recommend_returns_the_result_the_cli_renders(cli, hardware_file):
    result = quantpick.recommend(REPO, hardware=machine(), options=quantpick.Options(ctx=4096))
    assert isinstance(result, RepoRecommendation)
    pick = result.recommendation.pick
    assert pick.group is not None and pick.files == [f.path for f in pick.group.files]
    assert result.command == f"llama-server -hf {REPO}:{pick.label} -c 4096 -ngl {pick.gpu_layers}"
    hw = hardware_file(ram=32 * GiB, gpus=[8 * GiB])
    document = cli("recommend", REPO, "--hardware", hw, "--ctx", "4096", "--json").json
    assert document["pick"]["quant"] == pick.label and document["pick"]["command"] == result.command


def test_errors_are_domain_errors_without_flag_names():
    with pytest.raises(quantpick.QuantpickError) as caught:
        quantpick.Options(ctx=0)
    assert caught.value.code == "invalid_value" and "--" not in caught.value.message
    assert caught.value.field == "ctx"


def test_get_plans_then_fetches(tmp_path):
    tmp_path = tmp_path / "models"
    options = quantpick.Options(quant="Q2_K")
    plan = quantpick.plan_get(REPO, hardware=machine(), options=options, local_dir=str(tmp_path))
    assert isinstance(plan, GetPlan) and plan.group.label == "Q2_K"
    assert [f.status for f in plan.download.files] == ["missing"] and not tmp_path.exists()
    done = quantpick.run_get(plan)
    assert [f.status for f in done.download.files] == ["downloaded"] and done.download.model_path.is_file()
    assert done.command.startswith("llama-server -m ")


def test_plan_sizes_never_touches_the_hub(hub):
    hub.reset_counts()
    plan = quantpick.plan_sizes(hardware=machine(0.0001, 16), extra_sizes=(12.0,))
    assert [p.params_billions for p in plan.plans] == [1.0, 3.0, 8.0, 12.0, 14.0, 32.0, 70.0, 30.5]
    assert hub.count() == 0


def test_importing_quantpick_is_as_light_as_the_cli():
    code = (
        "import sys, quantpick\n"
        "quantpick.Options\n"
        "print(sorted(m for m in ('huggingface_hub', 'rich', 'typer', 'httpx2', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
