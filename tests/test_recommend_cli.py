"""`quantpick recommend` through the CLI: picks, exit codes and the JSON shape."""

import json

import pytest

from conftest import GiB, MiB, scaled


def test_recommend_repo_json_shape_and_two_requests(cli, hub, hardware_file):
    hw = hardware_file(ram=1 * GiB, gpus=[scaled(7) + 64 * MiB])
    hub.reset_counts()
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--reserve", "64MiB", "--json")
    assert result.exit_code == 0, result
    data = result.json
    assert set(data) >= {"schema_version", "hardware", "budget", "reserve", "pick", "candidates"}
    pick = data["pick"]
    assert pick["quant"] == "Q6_K_L" and pick["placement"] == "gpu" and pick["mode"] == "speed"
    assert pick["files"] == ["Qwen_Qwen3-8B-Q6_K_L.gguf"] and pick["size_bytes"] == scaled(6.9)
    assert pick["gpu_layers"] == 33 and pick["reasons"]
    assert pick["command"] == "llama-server -hf bartowski/Qwen_Qwen3-8B-GGUF:Q6_K_L -c 8192 -ngl 33"
    assert data["reserve"] == {
        "total_bytes": 64 * MiB,
        "kv_cache_bytes": None,
        "overhead_bytes": None,
        "compute_bytes": None,
        "output_bytes": None,
        "runtime_bytes": None,
        "ctx": 8192,
        "source": "user",
        "detail": "given by the user",
    }
    memory = pick["memory"]
    assert memory["weights_bytes"] == scaled(6.9) and memory["total_bytes"] == scaled(6.9) + 64 * MiB
    assert memory["devices"] == [{"device": "gpu", "bytes": scaled(6.9)}, {"device": "cpu", "bytes": 64 * MiB}]
    assert data["runner"] == {
        "parallel": 4,
        "kv_unified": True,
        "flash_attn": "auto",
        "ubatch": 512,
        "cache_type_k": "f16",
        "cache_type_v": "f16",
    }
    candidate = next(c for c in data["candidates"] if c["quant"] == "F16")
    assert set(candidate) >= {"quant", "size_bytes", "fits", "placement", "reasons"}
    assert candidate["eligible"] is False
    assert hub.count() == 2


def test_recommend_human_output_explains(cli, hardware_file):
    hw = hardware_file(ram=1 * GiB, gpus=[scaled(5.35) + 64 * MiB])
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--reserve", "64MiB")
    assert result.exit_code == 0, result
    out = result.stdout
    assert "pick: Q4_K_L" in out and "speed budget" in out and "reserve: 64.00 MiB" in out
    assert "too large" in out and "excluded" in out
    assert out.strip().splitlines()[-1].startswith("llama-server -hf bartowski/Qwen_Qwen3-8B-GGUF:Q4_K_L")


def test_split_repo_quality_mode_offloads_layers(cli, hardware_file):
    hw = hardware_file(ram=1 * GiB + scaled(40), gpus=[scaled(20)])  # usable RAM: scaled(40)
    data = cli("recommend", "bartowski/Qwen2.5-72B-Instruct-GGUF", "--hardware", hw, "--reserve", "1MiB", "--json").json
    pick = data["pick"]
    assert pick["quant"] == "Q4_K_M" and pick["placement"] == "gpu+cpu" and data["mode"] == "quality"
    assert len(pick["files"]) == 2 and 0 < pick["gpu_layers"] < 32
    notes = {n["code"]: n["text"] for n in data["notes"]}
    assert "GPU memory alone" in notes["split"] and "repacked" in notes["cpu_repack"]  # Q4_K on AVX2


def test_nothing_fits_exits_3(cli, hardware_file):
    hw = hardware_file(ram=1 * GiB)
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--json")
    assert result.exit_code == 3
    error = result.json["error"]
    assert error["code"] == "nothing_fits" and "smallest" in error["message"] and "more memory" in error["hint"]
    assert error["details"]["smallest"] == "IQ2_M"


def test_overrides_replace_single_figures(cli, hardware_file):
    hw = hardware_file(ram=64 * GiB, gpus=[24 * GiB])
    data = cli(
        "recommend",
        "bartowski/Qwen_Qwen3-8B-GGUF",
        "--hardware",
        hw,
        "--vram",
        "0",
        "--ram",
        "2GiB",
        "--reserve",
        "1MiB",
        "--json",
    ).json
    assert data["hardware"]["gpus"] == [] and data["hardware"]["ram"]["source"] == "--ram"
    assert data["pick"]["placement"] == "cpu" and data["hardware"]["backend"] == "cpu"
    data = cli(
        "recommend",
        "bartowski/Qwen_Qwen3-8B-GGUF",
        "--vram",
        "1GiB",
        "--backend",
        "vulkan",
        "--ram",
        "2GiB",
        "--reserve",
        "1MiB",
        "--json",
    ).json
    assert data["hardware"]["backend"] == "vulkan" and data["pick"]["placement"] == "gpu"


def test_explicit_quant_and_missing_quant(cli, hardware_file):
    hw = hardware_file(ram=64 * GiB)
    data = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--quant", "f16", "--json").json
    assert data["pick"]["quant"] == "F16"
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--quant", "Q7_K", "--json")
    assert result.exit_code == 2 and "Q4_K_M" in result.json["error"]["hint"]


def test_recommend_without_repo_works_offline(cli, hub, monkeypatch, hardware_file):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.reset_counts()
    hw = hardware_file(ram=32 * GiB, gpus=[12 * GiB])
    result = cli("recommend", "--hardware", hw, "--params", "12B", "--json")
    assert result.exit_code == 0, result
    rows = {row["params_billions"]: row for row in result.json["sizes"]}
    assert set(rows) == {1.0, 3.0, 8.0, 12.0, 14.0, 32.0, 70.0, 30.5}
    assert rows[8.0]["speed"]["quant"] == "Q8_0" and rows[70.0]["speed"] is None
    assert rows[30.5]["label"] == "30B-A3B" and rows[30.5]["pick"]["cpu_moe_layers"]  # experts in RAM
    assert rows[8.0]["pick"]["generation_tokens_per_second"] > 5
    floor = {"IQ2_XS", "IQ2_XXS", "IQ1_S", "IQ1_M", "TQ1_0", "TQ2_0"}
    offered = {row[key]["quant"] for row in rows.values() for key in ("pick", "speed", "quality") if row[key]}
    assert not offered & floor  # never below the quality floor
    assert result.json["best"] in {row["label"] for row in rows.values()}
    assert hub.count() == 0
    human = cli("recommend", "--hardware", hw)
    assert human.exit_code == 0 and "70B" in human.stdout and "nothing fits" in human.stdout
    assert "best for this machine" in human.stdout and "tok/s" in human.stdout


def test_bad_values_are_usage_errors(cli, hardware_file):
    hw = hardware_file()
    for args in (
        ["--vram", "lots"],
        ["--mode", "fast"],
        ["--prefer", "q"],
        ["--ctx", "0"],
        ["--params", "big"],
        ["--backend", "tpu"],
        ["--ctx", "many"],
    ):
        result = cli("recommend", "--hardware", hw, *args, "--json")
        assert result.exit_code == 2, (args, result)
        assert json.loads(result.stdout)["error"]["message"]
        assert result.stderr.startswith("Error: ")


def test_bad_hardware_file(cli, tmp_path):
    path = tmp_path / "hw.json"
    path.write_text("{not json")
    result = cli("recommend", "--hardware", str(path), "--json")
    assert result.exit_code == 2 and "probe --json" in result.json["error"]["hint"]
    result = cli("recommend", "--hardware", str(tmp_path / "none.json"), "--json")
    assert result.exit_code == 2


def test_saved_probe_round_trips(cli, tmp_path):
    saved = cli("probe", "--json").stdout
    path = tmp_path / "me.json"
    path.write_text(saved)
    data = cli("recommend", "--hardware", str(path), "--json").json
    assert data["hardware"]["ram"]["total_bytes"] == json.loads(saved)["ram"]["total_bytes"]
    assert data["hardware"]["source"] == str(path)


def test_runner_settings_size_the_reserve_and_reach_the_command(cli, hardware_file):
    hw = hardware_file(ram=64 * GiB, gpus=[])
    base = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--quant", "Q4_K_M", "--json").json
    lean = cli(
        "recommend",
        "bartowski/Qwen_Qwen3-8B-GGUF",
        "--hardware",
        hw,
        "--quant",
        "Q4_K_M",
        "--parallel",
        "1",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
        "--ubatch",
        "4096",
        "--json",
    ).json
    assert lean["runner"]["parallel"] == 1 and lean["runner"]["kv_unified"] is False
    kv_base, kv_lean = base["pick"]["memory"]["kv_cache_bytes"], lean["pick"]["memory"]["kv_cache_bytes"]
    assert kv_lean == pytest.approx(kv_base * 34 / 64, rel=0.01)  # q8_0 is 34 bytes per 32 elements
    assert lean["pick"]["memory"]["compute_bytes"] > 4 * base["pick"]["memory"]["compute_bytes"]  # 8x the rows
    assert " -c 8192 -np 1 -ub 4096 -b 4096 -ctk q8_0 -ctv q8_0 " in lean["pick"]["command"] + " "
    assert base["pick"]["command"].endswith("-c 8192 -ngl 0")  # llama-server's defaults: nothing to add
    memory = base["pick"]["memory"]
    parts = ("weights_bytes", "kv_cache_bytes", "compute_bytes", "output_bytes", "runtime_bytes")
    assert memory["total_bytes"] == sum(memory[p] for p in parts)
    assert memory["devices"] == [{"device": "cpu", "bytes": memory["total_bytes"]}]
    assert base["reserve"]["total_bytes"] == memory["total_bytes"] - memory["weights_bytes"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ubatch", "0"], "--ubatch: the micro-batch must be 1 to"),
        (["--cache-type-k", "q3_k"], "--cache-type-k: unknown cache type 'q3_k'"),
        (["--cache-type-v", "q8_0", "--flash-attn", "off"], "--cache-type-v: a quantized V cache (q8_0) needs flash"),
        (["--flash-attn", "maybe"], "--flash-attn:"),
        (["--parallel", "0"], "--parallel: slots must be 1 to"),
    ],
)
def test_bad_runner_settings_exit_2_with_one_line(cli, hardware_file, flags, message):
    hw = hardware_file(ram=64 * GiB, gpus=[])
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, *flags)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    data = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, *flags, "--json").json
    assert data["error"]["code"] == "invalid_value" and data["error"]["hint"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--min-speed", "-1"], "--min-speed: the speed target must be 0 to 100000 tokens/s, got -1"),
        (["--gpu-bandwidth", "abc"], "--gpu-bandwidth: not a bandwidth: 'abc'"),
        (["--vram", "24GiB,12GiB,8GiB", "--gpu-bandwidth", "1008,448"], "--gpu-bandwidth: 2 bandwidths for 3 GPUs"),
        (["--quality-floor", "IQ2X"], "--quality-floor: unknown quant type 'IQ2X'"),
        (["--ram-bandwidth", "0"], "--ram-bandwidth: a bandwidth must be above 0"),
    ],
)
def test_bad_decision_settings_exit_2_with_one_line(cli, hardware_file, flags, message):
    hw = hardware_file(ram=64 * GiB, gpus=[])
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, *flags)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_speed_and_decision_reach_the_json(cli, hardware_file):
    hw = hardware_file(ram=32 * GiB, gpus=[12 * GiB])
    data = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--json").json
    assert data["decision"]["mode"] == "auto" and data["decision"]["min_speed"] == 5
    assert data["decision"]["quality_floor"] == "IQ2_XS" and "tokens/s" in data["decision"]["rule"]
    speed = data["pick"]["speed"]
    assert speed["generation_tokens_per_second"] > 0 and speed["prompt_tokens_per_second"] is None
    assert "assumed" in speed["source"]  # the saved file has no bandwidth: said so
    fitting = [c for c in data["candidates"] if c["fits"]]
    assert fitting and all(c["speed"] for c in fitting)
    two = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--vram", "16GiB,8GiB", "--ram", "32GiB", "--json").json
    assert two["pick"]["tensor_split"] == [16, 8] and " -ts 16,8" in two["pick"]["command"]


def test_recommend_and_list_take_urls(cli, hardware_file):
    hw = hardware_file(ram=32 * GiB, gpus=[])
    url = cli("recommend", "https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--json").json
    plain_id = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--json").json
    assert url["pick"]["quant"] == plain_id["pick"]["quant"] and url["repo"] == "bartowski/Qwen_Qwen3-8B-GGUF"
    short = cli("recommend", "hf.co/bartowski/Qwen_Qwen3-8B-GGUF:q4_k_m", "--hardware", hw, "--json").json
    assert short["pick"]["quant"] == "Q4_K_M"
    listed = cli("list", "hf.co/bartowski/Qwen_Qwen3-8B-GGUF", "--json")
    assert listed.exit_code == 0 and listed.json["repo"] == "bartowski/Qwen_Qwen3-8B-GGUF"


def test_quiet_keeps_the_data_and_drops_hints(cli, hardware_file):
    hw = hardware_file(ram=32 * GiB, gpus=[])
    loud = cli("recommend", "--hardware", hw)
    quiet = cli("--quiet", "recommend", "--hardware", hw)
    also = cli("recommend", "--hardware", hw, "--quiet")
    assert "Hint:" in loud.stderr and "Hint:" not in quiet.stderr and "Hint:" not in also.stderr
    assert quiet.stdout == loud.stdout == also.stdout


def test_shell_completion_script(cli):
    result = cli("--show-completion", "bash")
    assert result.exit_code == 0 and "_quantpick_completion" in result.stdout


def test_a_mac_given_by_hand_counts_its_unified_memory_once(cli):
    data = cli("recommend", "--backend", "metal", "--ram", "36GB", "--vram", "30GB", "--json").json
    budget = data["budget"]
    assert budget["quality_bytes"] == budget["usable_ram_bytes"]  # not --vram + --ram (68 GB on a 36 GB Mac)
    assert budget["speed_bytes"] == 30_000_000_000
    default = cli("recommend", "--backend", "metal", "--ram", "36GB", "--json").json["budget"]
    assert default["speed_bytes"] == 24_000_000_000  # macOS's default wired limit: 2/3 of 36 GB
    assert (
        cli("recommend", "--backend", "metal", "--ram", "36GB", "--vram", "0", "--json").json["budget"]["has_gpu"]
        is False
    )


def test_chart_draws_memory_and_the_tradeoff_in_plain_text(cli, hardware_file):
    hw = hardware_file(ram=32 * GiB, gpus=[scaled(7)])
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, "--chart")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "memory (file + reserve)" in out and "| GPU" in out and "# GPU + RAM" in out
    assert "<- pick" in out and "quality loss (KLD" in out and "* " in out
    assert "\x1b[" not in out  # plain text when piped
    assert out.strip().splitlines()[-1].startswith("llama-server -hf")  # the command stays the last line


def test_chart_functions_with_plain_data():
    from quantpick.cli.chart import Point, memory_chart, tradeoff_chart

    points = [
        Point("Q8_0", 10 * GiB, 20.0, 0.001, True, False),
        Point("Q4_K_M", 6 * GiB, 40.0, 0.03, True, True),
        Point("F16", 18 * GiB, None, None, False, False),
    ]
    lines = memory_chart(points, 8 * GiB, 16 * GiB)
    assert lines[2].startswith("Q4_K_M") and lines[2].endswith("<- pick")
    assert lines[-1].startswith("F16") and lines[-1].endswith("(too large)")
    bar = lines[2].split()[1]
    assert bar.count("=") == int(6 / 18 * 48)  # the bar is proportional to the largest figure
    drawn = tradeoff_chart(points)
    assert any("*" in line for line in drawn[1:-3]) and drawn[-1].startswith("* Q4_K_M")
    assert tradeoff_chart(points[:1]) == [
        "(fewer than two candidates with a speed and a measured loss: no trade-off to draw)"
    ]
