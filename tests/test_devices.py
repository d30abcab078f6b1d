"""The bandwidth table for GPUs and Apple chips the probe cannot measure (data/gpu_bandwidth.yaml)."""

import json

import pytest
import yaml

from quantpick.devices import bandwidth_for, default_table_path, load_device_table, parse_device_table, parse_preset
from quantpick.errors import InvalidValue

TABLE = load_device_table()


@pytest.mark.parametrize(
    ("probed", "gbps"),
    [
        ("Apple M1", 68.25),
        ("Apple M1 Max", 400),
        ("Apple M4 Pro", 273),
        ("Apple M2 Ultra", 800),
        ("AMD Radeon RX 7900 XTX", 960),
        ("AMD Radeon RX 7900 XT", 800),
        ("Radeon RX 6800", 512),
    ],
)
def test_longest_whole_name_wins(probed, gbps):
    figure = bandwidth_for(probed, TABLE)
    assert figure is not None and figure.gbps == gbps


def test_unknown_names_get_nothing():
    assert bandwidth_for("Intel Arc A770", TABLE) is None
    assert bandwidth_for("Apple M10", TABLE) is None  # a whole word, not a prefix


def test_every_figure_names_its_source():
    raw = yaml.safe_load(default_table_path().read_text())
    assert len(parse_device_table(raw)) == len(raw["devices"])
    assert all(entry["source"] in raw["sources"] for entry in raw["devices"])


def test_malformed_entries_are_skipped():
    data = {
        "sources": {},
        "devices": [{"name": "X", "gbps": -1}, {"name": 3, "gbps": 1}, "x", {"name": "Y", "gbps": 5}],
    }
    assert [f.name for f in parse_device_table(data)] == ["Y"]
    assert parse_device_table(["not", "a", "table"]) == []


def test_a_saved_apple_machine_gets_its_chip_bandwidth(cli, tmp_path):
    saved = {
        "schema_version": 1,
        "ram": {"total_bytes": 64 * 1024**3},
        "gpus": [{"vendor": "apple", "name": "Apple M1 Max", "budget_bytes": 48 * 1024**3, "unified": True}],
        "backend": "metal",
    }
    path = tmp_path / "mac.json"
    path.write_text(json.dumps(saved))
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", str(path), "--json")
    data = result.json
    assert result.exit_code == 0, data
    assert data["hardware"]["gpus"][0]["bandwidth_gbps"] == 400
    assert "M1 Max" in data["pick"]["speed"]["source"]


@pytest.mark.parametrize(
    ("text", "name", "count", "gib", "backend"),
    [
        ("RTX 4090", "RTX 4090", 1, 24, "cuda"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090", 1, 24, "cuda"),
        ("4090", "RTX 4090", 1, 24, "cuda"),
        ("2x3090", "RTX 3090", 2, 24, "cuda"),
        ("2 x RTX 3090 Ti", "RTX 3090 Ti", 2, 24, "cuda"),
        ("RX 7900 XTX", "RX 7900 XTX", 1, 24, "rocm"),
        ("rtx 4060 ti 8GB", "RTX 4060 Ti", 1, 8, "cuda"),
        ("M3 Max 64GB", "M3 Max", 1, 64, "metal"),
        ("Apple M4 Pro 48 GB", "M4 Pro", 1, 48, "metal"),
    ],
)
def test_presets(text, name, count, gib, backend):
    preset = parse_preset(text, TABLE)
    assert (preset.figure.name, preset.count, preset.memory_bytes, preset.figure.backend) == (
        name,
        count,
        gib * 1024**3,
        backend,
    )


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("RTX 4099", "unknown GPU 'RTX 4099'", "RTX 4090"),
        ("M3 Max", "M3 Max comes with several memory sizes", "M3 Max 64GB"),
        ("40x4090", "40 GPUs", "RTX 4090"),
    ],
)
def test_bad_presets_name_the_closest(text, message, hint):
    with pytest.raises(InvalidValue) as caught:
        parse_preset(text, TABLE)
    assert message in caught.value.message and hint in (caught.value.hint or "")


def test_gpu_preset_through_the_cli(cli):
    data = cli("recommend", "--gpu", "2x3090", "--ram", "64GiB", "--json").json
    gpus = data["hardware"]["gpus"]
    assert [g["name"] for g in gpus] == ["RTX 3090", "RTX 3090"] and gpus[0]["bandwidth_gbps"] == 936
    mac = cli("recommend", "--gpu", "M3 Max 36GB", "--json").json
    assert mac["hardware"]["backend"] == "metal" and mac["budget"]["quality_bytes"] <= 36 * 1024**3
    bad = cli("recommend", "--gpu", "RTX 4099")
    assert bad.exit_code == 2 and "closest: RTX 4090" in bad.stderr
    both = cli("recommend", "--gpu", "RTX 4090", "--vram", "8GiB")
    assert both.exit_code == 2 and "--gpu and --vram" in both.stderr
