import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from quantpick.catalog import load_catalog, parse_catalog
from quantpick.cli.errors import render
from quantpick.errors import CatalogError

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = [
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_1",
    "Q5_0",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_1",
    "Q4_0",
    "IQ4_NL",
    "IQ4_XS",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "IQ3_M",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K",
    "Q2_K_S",
    "IQ2_M",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "TQ1_0",
    "TQ2_0",
    "MXFP4",
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_shipped_catalog_has_every_hub_label(catalog):
    for name in REQUIRED:
        quant = catalog.get(name)
        assert quant is not None and quant.name == name and not quant.is_variant
    for dead in ("Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8"):
        assert catalog.get(dead).loadable is False
    for variant, base in (("Q6_K_L", "Q6_K"), ("Q4_K_L", "Q4_K_M"), ("Q3_K_XL", "Q3_K_L"), ("UD-Q4_K_XL", "Q4_K_M")):
        assert catalog.get(variant).base == base


def test_prefix_variants_apply_to_any_type(catalog):
    ud = catalog.get("ud-iq2_m")
    assert ud.name == "UD-IQ2_M" and ud.base == "IQ2_M" and ud.family == "i"
    assert catalog.get("UD-NOTATYPE") is None


def test_every_figure_names_a_known_source(catalog):
    for quant in catalog.types.values():
        assert quant.bpw_source
        for figure in quant.quality.values():
            assert figure.source.split(";")[0].split(" ")[0] in catalog.sources
        for note in quant.notes:
            assert note.source in catalog.sources


def test_nominal_bpw_match_ggml_block_sizes(catalog):
    # 8 x bytes per block / weights per block (ggml-common.h)
    blocks = {
        "Q8_0": (34, 32),
        "Q6_K": (210, 256),
        "Q5_K_M": (176, 256),
        "Q4_K_M": (144, 256),
        "Q3_K_M": (110, 256),
        "Q2_K": (84, 256),
        "Q4_0": (18, 32),
        "Q5_1": (24, 32),
        "IQ4_XS": (136, 256),
        "IQ3_XXS": (98, 256),
        "IQ2_XXS": (66, 256),
        "IQ1_S": (50, 256),
        "TQ1_0": (54, 256),
        "MXFP4": (17, 32),
    }
    for name, (nbytes, weights) in blocks.items():
        assert catalog.get(name).bpw_nominal == pytest.approx(8 * nbytes / weights)


def test_quality_ranking_follows_measured_loss(catalog):
    losses = [catalog.rank_figure(catalog.get(n)).loss for n in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")]
    assert losses == sorted(losses)
    assert catalog.rank_figure(catalog.get("IQ3_M")).loss < catalog.rank_figure(catalog.get("Q3_K_S")).loss
    assert catalog.rank_figure(catalog.get("MXFP4")).estimated


def _write(tmp_path, text):
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


SHIPPED = (ROOT / "data" / "quant_catalog.yaml").read_text()


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t + "\n  - {name: [unclosed\n", "YAML syntax error at line"),
        (
            lambda t: t.replace("{name: Q6_K, family: k,", "{name: Q6_K, family: k, colour: red,"),
            "quant 'Q6_K': unknown key 'colour'",
        ),
        (
            lambda t: t.replace("{name: Q5_0, family: legacy, bpw:", "{name: Q5_0, family: legacy, bpwx:"),
            "quant 'Q5_0': unknown key 'bpwx'",
        ),
        (
            lambda t: t.replace(
                '{name: IQ2_S, family: i, bpw: {nominal: 2.3125, effective: 2.74, source: "GGUFPY; QOPT"}',
                "{name: IQ2_S, family: i, bpw: {nominal: 2.3125, effective: 2.74}",
            ),
            "quant 'IQ2_S'.bpw: missing field 'source'",
        ),
        (
            lambda t: t.replace("{name: Q4_1, family: legacy,", "{name: Q4_1, family: retro,"),
            "quant 'Q4_1': family 'retro'",
        ),
        (
            lambda t: t.replace(
                "kld_llama3_8b: {value: 0.071940, source: PPLREADME}",
                "kld_llama3_8b: {value: 0.071940, source: MYBLOG}",
            ),
            "quant 'Q4_0'.quality.kld_llama3_8b.source: source 'MYBLOG'",
        ),
        (lambda t: t.replace("base: Q6_K, description", "base: Q7_K, description"), "variant 'Q6_K_L': base 'Q7_K'"),
    ],
)
def test_broken_catalogs_name_the_file_and_the_entry(tmp_path, mutate, expected):
    broken = mutate(SHIPPED)
    assert broken != SHIPPED
    path = _write(tmp_path, broken)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(path) in caught.value.message
    assert expected in caught.value.message
    assert render(caught.value).exit_code == 2


def test_missing_required_top_level_field(tmp_path):
    with pytest.raises(CatalogError, match="missing field 'quants'"):
        parse_catalog(SHIPPED.split("\nquants:")[0], source="x.yaml")


def test_user_catalog_through_env_and_cli(tmp_path, cli, monkeypatch):
    path = _write(
        tmp_path, SHIPPED.replace("{name: Q8_0, family: legacy,", "{name: Q8_0, family: legacy, aliases: [EIGHT],")
    )
    monkeypatch.setenv("QUANTPICK_CATALOG", str(path))
    result = cli("catalog", "--json")
    assert result.exit_code == 0
    assert result.json["catalog"] == str(path)
    q8 = next(q for q in result.json["quants"] if q["name"] == "Q8_0")
    assert "EIGHT" in q8["aliases"]

    _write(tmp_path, "schema_version: 1\nsources: {}\n")
    result = cli("catalog", "--json")
    assert result.exit_code == 2
    assert result.json["error"]["code"] == "catalog_invalid"
    assert str(path) in result.json["error"]["message"]
    assert "Traceback" not in result.stderr


def test_missing_user_catalog_file(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTPICK_CATALOG", str(tmp_path / "nope.yaml"))
    result = cli("catalog", "--json")
    assert result.exit_code == 2
    assert "cannot read catalog" in result.json["error"]["message"]
    assert "QUANTPICK_CATALOG" in result.json["error"]["hint"]


def test_source_tree_import_finds_the_catalog_at_the_repo_root():
    """An editable install (or PYTHONPATH=src) has no data/ inside the package: the checkout's file is used."""
    code = "from quantpick import catalog; catalog.load_catalog(); print(catalog.default_catalog_path())"
    env = {k: v for k, v in os.environ.items() if k != "QUANTPICK_CATALOG"}
    env["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT / "data" / "quant_catalog.yaml")


def test_wheel_ships_the_catalog_and_uses_it(tmp_path):
    """Build the wheel, unpack it elsewhere, and load the catalog from inside the package."""
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("quantpick-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "quantpick/data/quant_catalog.yaml" in archive.namelist()
        archive.extractall(tmp_path / "site")
    code = (
        "import json; from quantpick.catalog import load_catalog, default_catalog_path; c = load_catalog(); "
        "print(json.dumps([str(default_catalog_path()), len(c.types)]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "QUANTPICK_CATALOG"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path, count = json.loads(done.stdout)
    assert path == str(tmp_path / "site" / "quantpick" / "data" / "quant_catalog.yaml")
    assert count == len(load_catalog().types)


def test_repack_features_name_flags_the_probe_really_sets():
    from quantpick.catalog import REPACK_FEATURES
    from quantpick.probe.cpu import DARWIN_FLAGS, LINUX_FLAGS

    for feature, flags in REPACK_FEATURES.items():
        assert set(flags) <= set(LINUX_FLAGS), feature
        assert set(flags) <= set(LINUX_FLAGS) | set(DARWIN_FLAGS), feature
    used = {f for q in load_catalog().types.values() for f in q.cpu_repack}
    assert used <= set(REPACK_FEATURES)
